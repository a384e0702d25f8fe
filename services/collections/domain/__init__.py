"""The collections domain: open items and their clocks, the dunning policy and decision, the
collection case, promises and plans valued against cash, and the collector's priority. Pure."""
