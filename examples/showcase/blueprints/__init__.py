"""One module per part of the site, each a porch.Blueprint: auth, posts, api, live, services."""
