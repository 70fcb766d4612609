"""synthmark for AUTOMATIC1111 / Forge: each image the web UI saves is marked, labelled,
signed and registered, keeping the web UI's own ``parameters`` text.

The work is done by ``synthmark.integrations.a1111.ImageSavedHandler``; this file registers
it with the web UI's callbacks and adds a "synthmark" section to Settings. Configuration
(home folder, key, signing certificate, registry, provider) is read from the same
``SYNTHMARK_*`` environment variables as the command line; see docs/integrations.md.
"""

from modules import script_callbacks, shared

from synthmark.integrations.a1111 import SETTINGS, A1111Options, ImageSavedHandler

handler = ImageSavedHandler()


def synthmark_on_image_saved(params):
    # Errors are logged and the unlabelled file moved aside by the handler; the exception
    # it raises then is printed by the web UI's callback runner.
    handler(params, A1111Options.from_opts(shared.opts))


def synthmark_on_ui_settings():
    section = ("synthmark", "synthmark")
    for key, default, label in SETTINGS:
        shared.opts.add_option(key, shared.OptionInfo(default, label, section=section))


def _register(register, callback):
    try:
        register(callback, name="synthmark")
    except TypeError:  # web UI versions before callbacks had names
        register(callback)


_register(script_callbacks.on_image_saved, synthmark_on_image_saved)
_register(script_callbacks.on_ui_settings, synthmark_on_ui_settings)
