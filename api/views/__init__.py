"""The API's views, one module per resource (api/urls.py names each)."""
