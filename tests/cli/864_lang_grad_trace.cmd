trace tests/cli/data/lang_ad_trace.expr x=[1,2,3] --wrt x
