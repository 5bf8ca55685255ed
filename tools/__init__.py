"""Project tooling (not part of the mvtutorial package): the book runner and the browser check.

Run from the repository root: ``python -m tools.book --mode fast``, ``python -m tools.browser_check``.
"""
