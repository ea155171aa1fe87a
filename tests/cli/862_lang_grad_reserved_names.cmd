eval tests/cli/data/lang_ad_reserved.expr x=1
