"""What each path costs at a stated rate: the price table (prices.json, every number with its source), sizing,
itemised costs, the stated rate, cost curves and their break-even points, OIC billing and what each path asks of
the sender."""
