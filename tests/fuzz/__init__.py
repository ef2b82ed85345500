"""Fuzzing every portal form through its real view (issue 9): whatever is sent, never a 5xx,
a refusal says why and stores nothing, and an accepted submission stores exactly what it should."""
