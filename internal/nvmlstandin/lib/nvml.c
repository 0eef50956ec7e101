// A stand-in libnvidia-ml.so.1 for tests: the NVML functions noderun calls,
// answering from NVMLSTANDIN_* environment variables (see standin.go).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int nvmlReturn_t;
enum {
	SUCCESS = 0, ERROR_UNINITIALIZED = 1, ERROR_INVALID_ARGUMENT = 2, ERROR_NOT_SUPPORTED = 3,
	ERROR_INSUFFICIENT_SIZE = 7, ERROR_TIMEOUT = 10, ERROR_NOT_FOUND = 6, ERROR_GPU_IS_LOST = 15,
};
enum { MAX_GPUS = 16, MAX_MIG = 7, MAX_XIDS = 32, EVENT_XID = 8 };

typedef struct device {
	int index;     // GPU index, or MIG slot for a MIG device
	int lost;
	int mig_count; // MIG devices of a GPU; -1 on a MIG device
	char uuid[96];
	struct device *mig;
	unsigned long long calls[16]; // per-query call counts: where each series stands
} device;

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct {
	char busIdLegacy[16];
	unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
	char busId[32];
} nvmlPciInfo_t;
typedef struct {
	device *device;
	unsigned long long eventType, eventData;
	unsigned int gpuInstanceId, computeInstanceId;
} nvmlEventData_t;
typedef struct { int registered[MAX_GPUS]; } eventSet;

static int initialized, count;
static device gpus[MAX_GPUS];
static device migs[MAX_GPUS][MAX_MIG];
static struct { int gpu; unsigned long long xid; double at; int sent; } xids[MAX_XIDS];
static int nxids;
static struct timespec started;

static double since_init(void) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
}

// listed reports whether i is in the comma list of env var name.
static int listed(const char *name, int i) {
	const char *s = getenv(name);
	while (s && *s) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end != s && v == i)
			return 1;
		s = strchr(s, ',');
		s = s ? s + 1 : NULL;
	}
	return 0;
}

// series returns the n-th value of the comma list in NVMLSTANDIN_<name>_<gpu>
// or else NVMLSTANDIN_<name>; the last value repeats. It returns 0 (and sets
// *ok to 0) when neither is set: the query is then not supported.
static unsigned long long series(const char *name, int gpu, unsigned long long n, int *ok) {
	char var[96];
	snprintf(var, sizeof var, "NVMLSTANDIN_%s_%d", name, gpu);
	const char *s = getenv(var);
	if (!s) {
		snprintf(var, sizeof var, "NVMLSTANDIN_%s", name);
		s = getenv(var);
	}
	*ok = s && *s;
	unsigned long long v = 0;
	for (unsigned long long k = 0; s && *s; k++) {
		v = strtoull(s, NULL, 0);
		if (k == n)
			break;
		s = strchr(s, ',');
		s = s ? s + 1 : NULL;
	}
	return v;
}

static double since_init(void);

// step is where series stand: every NVMLSTANDIN_STEP_MS since nvmlInit,
// else on every call of the query (q) on device d.
static unsigned long long step(device *d, int q) {
	const char *ms = getenv("NVMLSTANDIN_STEP_MS");
	unsigned long long n = d->calls[q]++;
	if (ms && atoi(ms) > 0)
		n = (unsigned long long)(since_init() * 1000 / atoi(ms));
	return n;
}

// value reads the current value of a series for device d.
static nvmlReturn_t value(device *d, int q, const char *name, unsigned long long *v) {
	if (!initialized)
		return ERROR_UNINITIALIZED;
	if (!d || !v)
		return ERROR_INVALID_ARGUMENT;
	if (d->lost)
		return ERROR_GPU_IS_LOST;
	int ok;
	*v = series(name, d->index, step(d, q), &ok);
	return ok ? SUCCESS : ERROR_NOT_SUPPORTED;
}

static void parse_xids(void) {
	// NVMLSTANDIN_XIDS=gpu:xid[@seconds],...: XID on GPU, due seconds after nvmlInit.
	const char *s = getenv("NVMLSTANDIN_XIDS");
	for (nxids = 0; s && *s && nxids < MAX_XIDS;) {
		int gpu = 0;
		unsigned long long xid = 0;
		double at = 0;
		if (sscanf(s, "%d:%llu@%lf", &gpu, &xid, &at) >= 2)
		{
			xids[nxids].gpu = gpu;
			xids[nxids].xid = xid;
			xids[nxids].at = at;
			xids[nxids++].sent = 0;
		}
		s = strchr(s, ',');
		s = s ? s + 1 : NULL;
	}
}

nvmlReturn_t nvmlInit_v2(void) {
	const char *n = getenv("NVMLSTANDIN_GPUS");
	count = n ? atoi(n) : 1;
	if (count < 0 || count > MAX_GPUS)
		count = MAX_GPUS;
	const char *uuids = getenv("NVMLSTANDIN_UUIDS");
	for (int i = 0; i < count; i++) {
		device *d = &gpus[i];
		memset(d, 0, sizeof *d);
		d->index = i;
		d->lost = listed("NVMLSTANDIN_LOST", i);
		snprintf(d->uuid, sizeof d->uuid, "GPU-5a1d0000-0000-4000-8000-%012d", i);
		if (uuids && *uuids) {
			size_t len = strcspn(uuids, ",");
			snprintf(d->uuid, sizeof d->uuid, "%.*s", (int)len, uuids);
			uuids += len + (uuids[len] == ',');
		}
		char var[64];
		snprintf(var, sizeof var, "NVMLSTANDIN_MIG_%d", i); // MIG devices of GPU i
		const char *m = getenv(var);
		d->mig_count = m ? atoi(m) : 0;
		if (d->mig_count > MAX_MIG)
			d->mig_count = MAX_MIG;
		d->mig = migs[i];
		for (int j = 0; j < d->mig_count; j++) {
			device *md = &migs[i][j];
			memset(md, 0, sizeof *md);
			md->index = j;
			md->mig_count = -1;
			snprintf(md->uuid, sizeof md->uuid, "MIG-5a1d0000-%04d-4000-8000-%012d", i, j);
		}
	}
	parse_xids();
	clock_gettime(CLOCK_MONOTONIC, &started);
	initialized = 1;
	return SUCCESS;
}

nvmlReturn_t nvmlInit(void) { return nvmlInit_v2(); }
nvmlReturn_t nvmlShutdown(void) { initialized = 0; return SUCCESS; }

const char *nvmlErrorString(nvmlReturn_t r) {
	switch (r) {
	case SUCCESS: return "Success";
	case ERROR_NOT_SUPPORTED: return "Not Supported";
	case ERROR_GPU_IS_LOST: return "GPU is lost";
	case ERROR_NOT_FOUND: return "Not Found";
	case ERROR_TIMEOUT: return "Timeout";
	default: return "Unknown Error";
	}
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) {
	if (!initialized)
		return ERROR_UNINITIALIZED;
	*n = count;
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, device **d) {
	if (!initialized)
		return ERROR_UNINITIALIZED;
	if (i >= (unsigned)count)
		return ERROR_INVALID_ARGUMENT;
	*d = &gpus[i];
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, device **d) {
	if (!initialized)
		return ERROR_UNINITIALIZED;
	for (int i = 0; i < count; i++) {
		if (!strcmp(gpus[i].uuid, uuid)) {
			*d = &gpus[i];
			return gpus[i].lost ? ERROR_GPU_IS_LOST : SUCCESS;
		}
		for (int j = 0; j < gpus[i].mig_count; j++)
			if (!strcmp(migs[i][j].uuid, uuid)) {
				*d = &migs[i][j];
				return SUCCESS;
			}
	}
	return ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlDeviceGetIndex(device *d, unsigned int *i) {
	if (!initialized)
		return ERROR_UNINITIALIZED;
	if (d->lost)
		return ERROR_GPU_IS_LOST;
	*i = d->index;
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(device *m, device **parent) {
	if (!initialized)
		return ERROR_UNINITIALIZED;
	if (m->mig_count >= 0)
		return ERROR_INVALID_ARGUMENT;
	*parent = &gpus[(m - &migs[0][0]) / MAX_MIG];
	return SUCCESS;
}

static nvmlReturn_t copy(device *d, char *dst, unsigned int len, const char *src) {
	if (!initialized)
		return ERROR_UNINITIALIZED;
	if (d->lost)
		return ERROR_GPU_IS_LOST;
	if (strlen(src) >= len)
		return ERROR_INSUFFICIENT_SIZE;
	strcpy(dst, src);
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(device *d, char *uuid, unsigned int len) { return copy(d, uuid, len, d->uuid); }
nvmlReturn_t nvmlDeviceGetName(device *d, char *name, unsigned int len) { return copy(d, name, len, "NVML Stand-in"); }

nvmlReturn_t nvmlDeviceGetPciInfo_v3(device *d, nvmlPciInfo_t *p) {
	if (d->lost)
		return ERROR_GPU_IS_LOST;
	memset(p, 0, sizeof *p);
	p->bus = 0x10 + d->index;
	snprintf(p->busId, sizeof p->busId, "00000000:%02X:00.0", p->bus);
	snprintf(p->busIdLegacy, sizeof p->busIdLegacy, "0000:%02X:00.0", p->bus);
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMinorNumber(device *d, unsigned int *minor) {
	if (d->lost)
		return ERROR_GPU_IS_LOST;
	*minor = d->index;
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCpuAffinity(device *d, unsigned int n, unsigned long *set) {
	if (d->lost)
		return ERROR_GPU_IS_LOST;
	memset(set, 0, n * sizeof *set);
	if (n > 0)
		set[0] = 0xf;
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetNumaNodeId(device *d, unsigned int *node) {
	if (d->lost)
		return ERROR_GPU_IS_LOST;
	*node = 0;
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigMode(device *d, unsigned int *current, unsigned int *pending) {
	if (d->lost)
		return ERROR_GPU_IS_LOST;
	*current = *pending = d->mig_count > 0;
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(device *d, unsigned int *n) {
	*n = d->mig_count > 0 ? MAX_MIG : 0;
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(device *d, unsigned int j, device **m) {
	if (j >= (unsigned)d->mig_count)
		return ERROR_NOT_FOUND;
	*m = &d->mig[j];
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetGpuInstanceId(device *d, unsigned int *id) { *id = 1 + d->index; return SUCCESS; }
nvmlReturn_t nvmlDeviceGetComputeInstanceId(device *d, unsigned int *id) { (void)d; *id = 0; return SUCCESS; }

// The telemetry queries: each reads a series that steps on every call.
enum { Q_UTIL, Q_MEM, Q_POWER, Q_TEMP, Q_CLOCK, Q_EVENTS, Q_ECC_CORR, Q_ECC_UNCORR };

nvmlReturn_t nvmlDeviceGetMemoryInfo(device *d, nvmlMemory_t *m) {
	unsigned long long used = 0;
	nvmlReturn_t r = value(d, Q_MEM, "MEM_USED_MIB", &used);
	if (r == ERROR_GPU_IS_LOST || r == ERROR_UNINITIALIZED)
		return r;
	m->total = 80ULL << 30;
	m->used = used << 20;
	m->free = m->total - m->used;
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(device *d, nvmlUtilization_t *u) {
	if (!initialized)
		return ERROR_UNINITIALIZED;
	if (d->lost)
		return ERROR_GPU_IS_LOST;
	int ok, mok;
	unsigned long long n = step(d, Q_UTIL);
	u->gpu = series("UTIL", d->index, n, &ok);
	u->memory = series("MEM_UTIL", d->index, n, &mok);
	return ok ? SUCCESS : ERROR_NOT_SUPPORTED;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(device *d, unsigned int *mw) {
	unsigned long long w = 0;
	nvmlReturn_t r = value(d, Q_POWER, "POWER_W", &w);
	*mw = w * 1000;
	return r;
}

nvmlReturn_t nvmlDeviceGetTemperature(device *d, int sensor, unsigned int *c) {
	unsigned long long v = 0;
	nvmlReturn_t r = sensor == 0 ? value(d, Q_TEMP, "TEMP_C", &v) : ERROR_NOT_SUPPORTED;
	*c = v;
	return r;
}

nvmlReturn_t nvmlDeviceGetClockInfo(device *d, int type, unsigned int *mhz) {
	unsigned long long v = 0;
	nvmlReturn_t r = type == 1 ? value(d, Q_CLOCK, "SM_CLOCK_MHZ", &v) : ERROR_NOT_SUPPORTED;
	*mhz = v;
	return r;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(device *d, unsigned long long *reasons) {
	return value(d, Q_EVENTS, "CLOCK_EVENTS", reasons);
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(device *d, unsigned long long *reasons) {
	return nvmlDeviceGetCurrentClocksEventReasons(d, reasons);
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(device *d, int type, int counter, unsigned long long *n) {
	if (counter != 0) // volatile only
		return ERROR_NOT_SUPPORTED;
	return type == 1 ? value(d, Q_ECC_UNCORR, "ECC_UNCORRECTED", n) : value(d, Q_ECC_CORR, "ECC_CORRECTED", n);
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(device *d, unsigned long long *types) {
	if (d->lost)
		return ERROR_GPU_IS_LOST;
	*types = EVENT_XID;
	return SUCCESS;
}

nvmlReturn_t nvmlEventSetCreate(eventSet **set) {
	if (!initialized)
		return ERROR_UNINITIALIZED;
	*set = calloc(1, sizeof **set);
	return *set ? SUCCESS : ERROR_UNINITIALIZED;
}

nvmlReturn_t nvmlDeviceRegisterEvents(device *d, unsigned long long types, eventSet *set) {
	if (!initialized)
		return ERROR_UNINITIALIZED;
	if (d->lost)
		return ERROR_GPU_IS_LOST;
	if (d->mig_count < 0 || !(types & EVENT_XID))
		return ERROR_NOT_SUPPORTED;
	set->registered[d->index] = 1;
	return SUCCESS;
}

// nvmlEventSetWait_v2 hands out the XIDs due on the set's GPUs, one a call,
// else sleeps until the next is due or the timeout passes.
nvmlReturn_t nvmlEventSetWait_v2(eventSet *set, nvmlEventData_t *data, unsigned int timeoutms) {
	if (!initialized)
		return ERROR_UNINITIALIZED;
	const char *ret = getenv("NVMLSTANDIN_EVENT_WAIT_RET");
	if (ret && atoi(ret) != 0)
		return atoi(ret); // at once, as after a GPU fell off the bus
	double now = since_init(), next = now + timeoutms / 1000.0;
	for (int k = 0; k < nxids; k++) {
		int g = xids[k].gpu;
		if (xids[k].sent || g < 0 || g >= count || !set->registered[g])
			continue;
		if (xids[k].at <= now) {
			xids[k].sent = 1;
			*data = (nvmlEventData_t){&gpus[g], EVENT_XID, xids[k].xid, 0xffffffff, 0xffffffff};
			return SUCCESS;
		}
		if (xids[k].at < next)
			next = xids[k].at;
	}
	usleep((useconds_t)((next - now) * 1e6));
	return ERROR_TIMEOUT;
}

nvmlReturn_t nvmlEventSetFree(eventSet *set) {
	free(set);
	return SUCCESS;
}
