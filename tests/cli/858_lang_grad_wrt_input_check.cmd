check tests/cli/data/lang_ad_input.expr w=[1,2] X=[[1,2],[3,4],[5,6]] y=[1,2,3] --wrt w,X,y
