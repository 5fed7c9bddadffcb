from .hooks import *  # noqa: F401,F403
from .loops import HeldoutValLoop, missing_data_path  # noqa: F401
from .optimizers import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403
