"""The demo: the examples in one app, with a page that shows their events live (`typedsse demo`)."""
