"""The one-machine demo: ``reeferwatch demo`` runs a broker, central and one simulated site.

``children`` starts and stops the child processes (they die with the demo); ``site`` writes
the simulated site's edge configuration; ``cli`` ties them together.
"""
