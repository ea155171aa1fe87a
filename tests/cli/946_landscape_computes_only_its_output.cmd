landscape tests/cli/data/lazy_three_outputs.expr --output L --grid 3 --json 'X=[1]' 'y=[2]'
