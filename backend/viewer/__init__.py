"""The receiving viewer (`/view`, contract §6): where a SMART Health Link's QR code leads. The page is
static; the browser reads the link from the URL's fragment, asks the manifest and decrypts the files
itself (pwa/js/view.js), so the link's key never reaches this server or its logs."""

from backend.viewer.pages import ViewerPages

__all__ = ["ViewerPages"]
