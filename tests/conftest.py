import os

os.environ.setdefault("TELLWELL_ENV", "testing")  # before any tellwell import reads settings

from tests.fixtures import *  # noqa: F403
