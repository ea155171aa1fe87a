train tests/cli/data/u17_train.expr --json --optimizer gd --lr 0.25 --steps 4
