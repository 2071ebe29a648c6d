"""The demo component: the sample retailer's generator and its example project."""
