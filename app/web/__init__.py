"""The web layer: the JSON API (``api/``), the HTML pages (``pages/``) and the plumbing they share."""
