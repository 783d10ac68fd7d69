"""l2g.passes"""
