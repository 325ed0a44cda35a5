"""One run, the only orchestration: plan what each subscriber gets, then deliver it."""
