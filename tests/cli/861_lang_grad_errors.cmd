eval tests/cli/data/lang_ad_errors.expr x=[1,2,3,4] v=[1,1,1,1]
