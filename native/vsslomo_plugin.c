/*
 * vsslomo native VapourSynth plugin: the `slomo` namespace.
 *
 * The filter itself is written in Python (vsslomo.filter.interpolate). This plugin
 * only makes it reachable as core.slomo.Interpolate(...) / clip.slomo.Interpolate(...)
 * without an `import vsslomo` in the script. For each call it:
 *
 *   1. finds the Python C API already loaded in this process (no libpython link:
 *      dlsym(RTLD_DEFAULT), falling back to the loaded libpython found with
 *      dl_iterate_phdr for hosts that loaded it RTLD_LOCAL);
 *   2. takes the GIL, imports vsslomo._bridge and calls _bridge.register(), which
 *      hands the Python entry point back to us as a VSFunction by calling the hidden
 *      slomo.InternalRegister(func) on the current core (parked in a thread-local slot for
 *      the duration of this one call only);
 *   3. releases the GIL and forwards the argument map with vsapi->callFunction
 *      (VapourSynth's Python module takes the GIL itself when it runs the function),
 *      copies the clip (or the Python side's error message) to the output map and
 *      frees the function.
 *
 * The plugin never crashes a host without Python: it reports a VapourSynth error.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "VapourSynth4.h"

#ifndef VSSLOMO_VERSION_MAJOR /* set by setup.py from vsslomo.__version__ */
#define VSSLOMO_VERSION_MAJOR 0
#define VSSLOMO_VERSION_MINOR 0
#endif

#define SLOMO_PREFIX "slomo.Interpolate: "
#define SLOMO_ERRKEY "slomo_error" /* key under which _bridge returns a user-facing error */
#define SLOMO_ERRLEN 2048

/* The arguments are the parameters of vsslomo.filter.interpolate (a test keeps them in
 * sync). All but the clip are declared `data`: VapourSynth's Python binding passes a data
 * argument on as str(value), which keeps every value exact (an int argument would silently
 * truncate factor=2.5 to 2; a float one would round 2**62 - 1) and lets strings such as
 * "no" reach Python, where vsslomo._bridge converts each value to the type of its Python
 * parameter with the filter's own error messages. `clip` is optional so that Python can
 * report a missing clip itself. */
static const char *const interpolate_args =
    "clip:vnode:opt;"
    "factor:data:opt;"
    "factor_num:data:opt;"
    "factor_den:data:opt;"
    "fps_num:data:opt;"
    "fps_den:data:opt;"
    "model:data:opt;"
    "checkpoint:data:opt;"
    "device:data:opt;"
    "fp16:data:opt;"
    "precision:data:opt;"
    "backend:data:opt;"
    "sc:data:opt;"
    "sc_threshold:data:opt;"
    "scale:data:opt;"
    "ensemble:data:opt;";

/* ---- Minimal view of the Python C API, resolved at run time ----------------- */

typedef struct PyObjectOpaque PyObject; /* only ever handled through pointers */

typedef struct PyApi {
    void *handle; /* dlopen handle to close after use, or NULL when RTLD_DEFAULT was used */
    int (*Py_IsInitialized)(void);
    int (*PyGILState_Ensure)(void); /* PyGILState_STATE is an int-sized enum */
    void (*PyGILState_Release)(int);
    PyObject *(*PyImport_ImportModule)(const char *);
    PyObject *(*PyObject_CallMethod)(PyObject *, const char *, const char *, ...);
    PyObject *(*PyObject_GetAttrString)(PyObject *, const char *);
    PyObject *(*PyObject_Str)(PyObject *);
    const char *(*PyUnicode_AsUTF8)(PyObject *);
    PyObject *(*PySys_GetObject)(const char *); /* borrowed reference */
    void (*Py_DecRef)(PyObject *);
    void (*PyErr_Clear)(void);
    /* Python >= 3.12; PyErr_Fetch is the fallback for older interpreters. */
    PyObject *(*PyErr_GetRaisedException)(void);
    void (*PyErr_Fetch)(PyObject **, PyObject **, PyObject **);
    void (*PyErr_NormalizeException)(PyObject **, PyObject **, PyObject **);
} PyApi;

/* dlsym returns an object pointer; copying its bytes into the function pointer is the
 * POSIX-sanctioned conversion (and keeps -Wpedantic quiet). */
#define PYAPI_LOAD(api, name) py_sym((api)->handle, #name, &(api)->name, sizeof((api)->name))

static void py_sym(void *handle, const char *name, void *dest, size_t size) {
    void *sym = dlsym(handle ? handle : RTLD_DEFAULT, name);
    if (size == sizeof(sym))
        memcpy(dest, &sym, size);
}

/* dl_iterate_phdr callback: remember the first loaded object named libpython*. */
static int find_libpython_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    const char *path = info->dlpi_name;
    if (!path || !*path)
        return 0;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "libpython", 9) != 0)
        return 0;
    snprintf((char *)data, 4096, "%s", path);
    return 1;
}

/* Returns 1 when every needed symbol was found. */
static int pyapi_load(PyApi *api) {
    memset(api, 0, sizeof(*api));
    if (!dlsym(RTLD_DEFAULT, "Py_IsInitialized")) {
        /* Python may have been loaded without RTLD_GLOBAL (an embedding host): open the
         * already-loaded libpython by path, without loading anything new. */
        char path[4096] = {0};
        if (dl_iterate_phdr(find_libpython_cb, path) && path[0])
            api->handle = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
        if (!api->handle)
            return 0;
    }
    PYAPI_LOAD(api, Py_IsInitialized);
    PYAPI_LOAD(api, PyGILState_Ensure);
    PYAPI_LOAD(api, PyGILState_Release);
    PYAPI_LOAD(api, PyImport_ImportModule);
    PYAPI_LOAD(api, PyObject_CallMethod);
    PYAPI_LOAD(api, PyObject_GetAttrString);
    PYAPI_LOAD(api, PyObject_Str);
    PYAPI_LOAD(api, PyUnicode_AsUTF8);
    PYAPI_LOAD(api, PySys_GetObject);
    PYAPI_LOAD(api, Py_DecRef);
    PYAPI_LOAD(api, PyErr_Clear);
    PYAPI_LOAD(api, PyErr_GetRaisedException);
    PYAPI_LOAD(api, PyErr_Fetch);
    PYAPI_LOAD(api, PyErr_NormalizeException);
    return api->Py_IsInitialized && api->PyGILState_Ensure && api->PyGILState_Release &&
           api->PyImport_ImportModule && api->PyObject_CallMethod && api->PyObject_GetAttrString &&
           api->PyObject_Str && api->PyUnicode_AsUTF8 && api->PySys_GetObject && api->Py_DecRef &&
           api->PyErr_Clear && (api->PyErr_GetRaisedException || (api->PyErr_Fetch && api->PyErr_NormalizeException));
}

static void pyapi_unload(PyApi *api) {
    if (api->handle)
        dlclose(api->handle);
    api->handle = NULL;
}

static void py_xdecref(const PyApi *api, PyObject *o) {
    if (o)
        api->Py_DecRef(o);
}

/* Copies str(obj) into buf; returns 0 when that failed (the Python error is cleared). */
static int py_str(const PyApi *api, PyObject *obj, char *buf, size_t size) {
    if (!obj)
        return 0;
    PyObject *s = api->PyObject_Str(obj);
    const char *utf8 = s ? api->PyUnicode_AsUTF8(s) : NULL;
    if (utf8)
        snprintf(buf, size, "%s", utf8);
    else
        api->PyErr_Clear();
    py_xdecref(api, s);
    return utf8 != NULL;
}

/* Consumes the pending Python exception and writes "TypeName: message" (or just the
 * message when it already starts with our prefix) into buf. Requires the GIL. */
static void py_take_error(const PyApi *api, char *buf, size_t size) {
    PyObject *exc = NULL;
    if (api->PyErr_GetRaisedException) {
        exc = api->PyErr_GetRaisedException();
    } else {
        PyObject *type = NULL, *tb = NULL;
        api->PyErr_Fetch(&type, &exc, &tb);
        api->PyErr_NormalizeException(&type, &exc, &tb);
        py_xdecref(api, type);
        py_xdecref(api, tb);
    }
    char msg[SLOMO_ERRLEN] = "unknown error";
    char tname[128] = "Exception";
    if (exc) {
        py_str(api, exc, msg, sizeof(msg));
        /* type(exc).__name__ */
        PyObject *type = api->PyObject_GetAttrString(exc, "__class__");
        PyObject *name = type ? api->PyObject_GetAttrString(type, "__name__") : NULL;
        if (!name || !py_str(api, name, tname, sizeof(tname)))
            api->PyErr_Clear();
        py_xdecref(api, name);
        py_xdecref(api, type);
        py_xdecref(api, exc);
    }
    if (strncmp(msg, SLOMO_PREFIX, strlen(SLOMO_PREFIX)) == 0)
        snprintf(buf, size, "%s", msg);
    else
        snprintf(buf, size, "%s: %s", tname, msg);
}

/* ---- The Python entry point, handed over by _bridge.register() -------------- */

/* State of the Interpolate call running on this thread: only set between arming and
 * collecting within one slomoInterpolate() call, never kept across calls. */
typedef struct PendingRegistration {
    int armed;
    VSCore *core;     /* the core Interpolate was called on */
    VSFunction *func; /* set by slomo.InternalRegister */
    char error[SLOMO_ERRLEN];
} PendingRegistration;

static _Thread_local PendingRegistration *tls_pending = NULL;

/* slomo.InternalRegister(func): internal; only valid while Interpolate waits for it. */
static void VS_CC slomoRegister(const VSMap *in, VSMap *out, void *userData, VSCore *core, const VSAPI *vsapi) {
    (void)userData;
    PendingRegistration *pending = tls_pending;
    if (!pending || !pending->armed) {
        vsapi->mapSetError(out, "slomo.InternalRegister: internal function of the slomo plugin; use slomo.Interpolate");
        return;
    }
    if (core != pending->core) {
        snprintf(pending->error, sizeof(pending->error),
                 SLOMO_PREFIX "the clip belongs to a different VapourSynth core than the current Python "
                              "environment's core (vapoursynth.core); create the clip with vapoursynth.core");
        vsapi->mapSetError(out, pending->error);
        return;
    }
    VSFunction *func = vsapi->mapGetFunction(in, "func", 0, NULL);
    if (pending->func)
        vsapi->freeFunction(pending->func);
    pending->func = func;
}

/* ---- slomo.Interpolate ------------------------------------------------------ */

static void set_errorf(VSMap *out, const VSAPI *vsapi, const char *fmt, ...) {
    char buf[SLOMO_ERRLEN * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    vsapi->mapSetError(out, buf);
}

/* Imports vsslomo._bridge and has it register its entry point. Returns the VSFunction
 * (owned by the caller) or NULL with errbuf filled. Takes and releases the GIL. */
static VSFunction *get_python_entry(const PyApi *api, VSCore *core, const VSAPI *vsapi, char *errbuf,
                                    size_t errsize) {
    PendingRegistration pending;
    memset(&pending, 0, sizeof(pending));
    pending.core = core;

    int gil = api->PyGILState_Ensure();
    PyObject *bridge = api->PyImport_ImportModule("vsslomo._bridge");
    if (!bridge) {
        char reason[SLOMO_ERRLEN];
        char exe[1024] = "unknown";
        py_take_error(api, reason, sizeof(reason));
        PyObject *executable = api->PySys_GetObject("executable"); /* borrowed */
        if (!py_str(api, executable, exe, sizeof(exe)) || !exe[0])
            snprintf(exe, sizeof(exe), "unknown");
        snprintf(errbuf, errsize,
                 SLOMO_PREFIX "the Python package vsslomo is not importable from the Python running VapourSynth "
                              "(%s): %s. Install it into that Python (%s -m pip install vsslomo, or pip install . "
                              "in the vsslomo source tree) or add its location to PYTHONPATH.",
                 exe, reason, exe);
        api->PyGILState_Release(gil);
        return NULL;
    }

    PendingRegistration *outer = tls_pending; /* re-entrant calls nest cleanly */
    tls_pending = &pending;
    pending.armed = 1;
    PyObject *result = api->PyObject_CallMethod(bridge, "register", NULL);
    pending.armed = 0;
    tls_pending = outer;

    if (!result) {
        char reason[SLOMO_ERRLEN];
        py_take_error(api, reason, sizeof(reason));
        if (pending.error[0])
            snprintf(errbuf, errsize, "%s", pending.error);
        else if (strncmp(reason, SLOMO_PREFIX, strlen(SLOMO_PREFIX)) == 0)
            snprintf(errbuf, errsize, "%s", reason);
        else
            snprintf(errbuf, errsize, SLOMO_PREFIX "vsslomo._bridge.register() failed: %s", reason);
    } else if (!pending.func) {
        snprintf(errbuf, errsize, SLOMO_PREFIX "vsslomo._bridge.register() did not register its entry point "
                                               "(mismatched vsslomo version?); reinstall vsslomo");
    }
    py_xdecref(api, result);
    py_xdecref(api, bridge);
    api->PyGILState_Release(gil);

    if (!result && pending.func) {
        /* Freed without the GIL: VapourSynth's Python module takes it itself. */
        vsapi->freeFunction(pending.func);
        pending.func = NULL;
    }
    return pending.func;
}

static void VS_CC slomoInterpolate(const VSMap *in, VSMap *out, void *userData, VSCore *core, const VSAPI *vsapi) {
    (void)userData;
    PyApi api;
    if (!pyapi_load(&api)) {
        pyapi_unload(&api);
        vsapi->mapSetError(out, SLOMO_PREFIX "no Python interpreter found in this process. The slomo plugin runs "
                                             "the vsslomo Python package, so use it from a VapourSynth Python "
                                             "script (vspipe script.vpy, or import vapoursynth in Python).");
        return;
    }
    if (!api.Py_IsInitialized()) {
        pyapi_unload(&api);
        vsapi->mapSetError(out, SLOMO_PREFIX "the Python interpreter in this process is not initialised. Use "
                                             "slomo.Interpolate from a VapourSynth Python script (vspipe "
                                             "script.vpy, or import vapoursynth in Python).");
        return;
    }

    char err[SLOMO_ERRLEN * 2] = "";
    VSFunction *entry = get_python_entry(&api, core, vsapi, err, sizeof(err));
    pyapi_unload(&api);
    if (!entry) {
        vsapi->mapSetError(out, err);
        return;
    }

    /* GIL released here: the Python side re-acquires it in its VSFunction callback. */
    VSMap *ret = vsapi->createMap();
    vsapi->callFunction(entry, in, ret);
    vsapi->freeFunction(entry);

    const char *callError = vsapi->mapGetError(ret);
    if (callError) {
        set_errorf(out, vsapi, "%s", callError);
    } else if (vsapi->mapNumElements(ret, SLOMO_ERRKEY) > 0) {
        /* A user-facing error from the bridge, passed through unchanged. */
        const char *msg = vsapi->mapGetData(ret, SLOMO_ERRKEY, 0, NULL);
        set_errorf(out, vsapi, "%s", msg ? msg : SLOMO_PREFIX "unknown error");
    } else {
        int e = 0;
        VSNode *node = vsapi->mapGetNode(ret, "val", 0, &e);
        if (!node || vsapi->getNodeType(node) != mtVideo) {
            if (node)
                vsapi->freeNode(node);
            vsapi->mapSetError(out, SLOMO_PREFIX "the vsslomo Python implementation returned no video clip");
        } else {
            vsapi->mapConsumeNode(out, "clip", node, maReplace);
        }
    }
    vsapi->freeMap(ret);
}

VS_EXTERN_C __attribute__((visibility("default"))) void VS_CC VapourSynthPluginInit2(VSPlugin *plugin,
                                                                                      const VSPLUGINAPI *vspapi) {
    vspapi->configPlugin("com.vsslomo.slomo", "slomo", "vsslomo: neural frame interpolation (RIFE, Super SloMo)",
                         VS_MAKE_VERSION(VSSLOMO_VERSION_MAJOR, VSSLOMO_VERSION_MINOR), VAPOURSYNTH_API_VERSION, 0, plugin);
    vspapi->registerFunction("Interpolate", interpolate_args, "clip:vnode;", slomoInterpolate, NULL, plugin);
    vspapi->registerFunction("InternalRegister", "func:func;", "", slomoRegister, NULL, plugin);
}
