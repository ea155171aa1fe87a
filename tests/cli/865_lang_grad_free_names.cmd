grad tests/cli/data/lang_ad_free.expr x=3 y=5
