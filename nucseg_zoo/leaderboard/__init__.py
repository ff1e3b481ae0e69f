"""The leaderboard in ``validation/``: result files, generated pages, submissions.

Start with the command line (``nucseg-zoo leaderboard``, ``nucseg-zoo submit``) or::

    from nucseg_zoo.leaderboard import submit, render, stale_pages
    submit("model.zip", name="My U-Net", authors=["A. Person"], folder="validation")
"""

from nucseg_zoo.leaderboard.costs import CostProbeError
from nucseg_zoo.leaderboard.entries import DuplicateSubmission, UnknownEntry, submit, update_builtin, verify
from nucseg_zoo.leaderboard.records import Entry, ResultRecord, check_record, read_results
from nucseg_zoo.leaderboard.render import render, stale_pages, write_pages

__all__ = [
    "CostProbeError", "DuplicateSubmission", "Entry", "ResultRecord", "check_record", "read_results", "render", "stale_pages",
    "UnknownEntry", "submit", "update_builtin", "verify", "write_pages",
]
