def migrate(cr, version):
    """The log line's activity becomes a plain id (activity_ref), without the
    foreign key that made every activity deletion in the database rewrite
    log lines: the column is kept, renamed, its constraint and index gone."""
    cr.execute(
        """
        SELECT 1 FROM information_schema.columns
         WHERE table_name = 'workflow_log_line' AND column_name = 'activity_id'
        """
    )
    if not cr.fetchone():
        return
    cr.execute(
        """
        ALTER TABLE workflow_log_line
            DROP CONSTRAINT IF EXISTS workflow_log_line_activity_id_fkey;
        DROP INDEX IF EXISTS workflow_log_line__activity_id_index;
        ALTER TABLE workflow_log_line RENAME COLUMN activity_id TO activity_ref;
        """
    )
