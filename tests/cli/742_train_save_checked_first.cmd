train examples/seed_scalar.expr w=2 x=3 y=1 --steps 5 --save /nonexistent/dir/p.json
