eval tests/cli/data/lang_ad_hvp.expr x=[-1.2,1,-1.2,1] v=[1,2,3,4]
