package main

import "context"

func cmdDemo(ctx context.Context, args []string, e env) error { return usageError("demo: not yet") }
