"""marshmallow schemas: the single source for every boundary of the service."""
