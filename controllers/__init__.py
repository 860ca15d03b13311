from . import workflow_api
