"""A fixture plugin that calls sys.exit while being imported."""

import sys

sys.exit("this plugin refuses to load")
