"""l2g.frontend"""
