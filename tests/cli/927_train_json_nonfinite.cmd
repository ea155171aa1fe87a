train tests/cli/data/u17_train_diverge.expr --json --optimizer gd --lr 1 --steps 10
