"""The composition root: the `quietfix` command and the demo that wire the domain packages together.

It sits above every domain package (it may import them all); nothing imports it.
"""
