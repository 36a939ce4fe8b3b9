// Renders the server's own spec with ReDoc.
Redoc.init("openapi.json", { hideDownloadButton: false }, document.getElementById("redoc"));
