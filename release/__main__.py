"""``python -m release``."""

from release.cli import main_entry

main_entry()
