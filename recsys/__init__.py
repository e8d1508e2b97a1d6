"""Adaptive Recommendation Studio engine.

The engine never imports Streamlit: everything here runs from the CLI, tests and
background jobs as well as from the dashboard.
"""

__version__ = "0.1.0"
