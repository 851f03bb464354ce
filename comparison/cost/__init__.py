"""What each path costs at a stated rate: prices.json (every number with its source) and the sizing rules. Imports transforms.records only."""
