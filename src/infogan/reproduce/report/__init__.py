"""The reproduction report: ``build_report(runs, out)`` writes report.html, report.md and report.json.

Modules: ``runs`` (reading run folders, cached metrics), ``analysis`` (the numbers), ``figures`` (matplotlib,
imported when a figure is drawn), ``document`` (Markdown/HTML rendering), ``sections`` (what the report
shows), ``build`` (orchestration and the ``infogan report`` command).
"""

from infogan.reproduce.report.build import build_report

__all__ = ["build_report"]
