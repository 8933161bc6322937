from cdss import create_app
app = create_app()
