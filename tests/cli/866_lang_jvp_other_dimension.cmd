eval tests/cli/data/lang_ad_dims.expr x=[1,2] v=[1,2]
