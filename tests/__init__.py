from . import test_access
from . import test_api
from . import test_chat
from . import test_draft
from . import test_preview
from . import test_reliability
from . import test_runner
from . import test_triggers
