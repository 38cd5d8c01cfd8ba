"""HTML reports (templates + plots) shared by eval, profile and the demo."""
