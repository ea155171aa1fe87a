check tests/cli/data/lang_ad_fn.expr w=[1,2] X=[[1,2],[3,4],[5,6]] y=[1,2,3]
