"""The measured line: counters as a meter reads them (counters.py) and the closed loop that turns
them into budgets (budget.py). Pure, like the rest of the domain."""
