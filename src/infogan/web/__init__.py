"""The latent explorer: a small server on 127.0.0.1 (:mod:`infogan.web.server`) and its static page;
inference only, through :mod:`infogan.inference.generate` and :mod:`infogan.inference.viz` (:mod:`infogan.web.explorer`)."""
