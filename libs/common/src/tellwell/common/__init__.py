"""TellWell's shared contract and plumbing.

Import what you need from the submodules: ``tellwell.common.topics``, ``.events``, ``.settings``,
``.kafka``, ``.mongo``, ``.vectors``, ``.views``, ``.history``, ``.articles``, ``.text``, ``.figures``,
``.embed``, ``.vector_cache``, ``.observability``, ``.testing``.
"""
