"""HTTP routes, one module per resource group; each only maps HTTP to repositories/services."""
