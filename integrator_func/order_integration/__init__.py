"""Code shared by the two integrator Functions: contracts, mapping, errors.

Deliberately empty of imports: the Functions host imports this package at cold start, and each
function imports only the modules it needs (jsonschema loads on the first validation).
"""
