// dicom_shim.cpp — the project's one C++ file: a small shim over DCMTK behind include/hust19/dicom.h.
//
// It reads and writes CT Image Storage files, decodes the compressed transfer syntaxes DCMTK has
// codecs for (dcmjpeg: JPEG baseline/extended/lossless; dcmjpls: JPEG-LS; dcmdata: RLE, deflate),
// and de-identifies files after DICOM PS3.15 Annex E (Basic Application Level Confidentiality
// Profile, table E.1-1). Errors never escape as exceptions or log lines: every DCMTK condition is
// turned into an h19_fail() message naming the file, and DCMTK's own logger is switched off.
#include "dcmtk/config/osconfig.h"

#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/oflog/oflog.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hust19/dicom.h"
extern "C" {
#include "hust19/err.h"
}

namespace {

// ---- one-time setup --------------------------------------------------------------------------

std::once_flag g_once;
bool g_dict_ok = false;

void setup_once()
{
    // A library must not print: DCMTK logs warnings and errors to stderr by default.
    OFLog::configure(OFLogger::OFF_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();   // JPEG baseline, extended, lossless (dcmjpeg)
    DJLSDecoderRegistration::registerCodecs(); // JPEG-LS lossless and near-lossless (dcmjpls)
    DcmRLEDecoderRegistration::registerCodecs();
    g_dict_ok = dcmDataDict.isDictionaryLoaded();
}

int setup(const char *path)
{
    std::call_once(g_once, setup_once);
    if (!g_dict_ok)
        return h19_fail(H19_EIO, "%s: DCMTK's data dictionary is not loaded (install dcmtk's dicom.dic or set DCMDICTPATH)",
                        path ? path : "(dicom)");
    return H19_OK;
}

// ---- small helpers ---------------------------------------------------------------------------

void copy_str(char *dst, size_t cap, const char *src)
{
    if (!cap) return;
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = 0;
}

// All values of a string element joined with '\'; "" when absent.
void get_str(DcmItem *it, const DcmTagKey &tag, char *dst, size_t cap)
{
    OFString s;
    if (it->findAndGetOFStringArray(tag, s).good())
        copy_str(dst, cap, s.c_str());
    else
        copy_str(dst, cap, "");
}

bool get_f64(DcmItem *it, const DcmTagKey &tag, unsigned long pos, double *v)
{
    Float64 x;
    if (it->findAndGetFloat64(tag, x, pos).bad()) return false;
    if (!std::isfinite(x)) return false;
    *v = x;
    return true;
}

// DS values are at most 16 characters (PS3.5 6.2): the most precise "%.*g" form that fits.
std::string fmt_ds(double v)
{
    char buf[64];
    for (int prec = 15; prec >= 1; prec--) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strlen(buf) <= 16) return buf;
    }
    return "0";
}

std::string fmt_ds_list(const double *v, int n)
{
    std::string s;
    for (int i = 0; i < n; i++) {
        if (i) s += '\\';
        s += fmt_ds(v[i]);
    }
    return s;
}

std::string tag_str(const DcmTagKey &t)
{
    char b[16];
    snprintf(b, sizeof b, "(%04x,%04x)", t.getGroup(), t.getElement());
    return b;
}

std::atomic<unsigned> g_tmp_counter{0};

// Outputs are written atomically (docs/developing.md): write X.tmp.<pid>.<n>, fsync, rename to X.
std::string tmp_name(const char *path)
{
    return std::string(path) + ".tmp." + std::to_string((long)getpid()) + "." +
           std::to_string(g_tmp_counter.fetch_add(1));
}

int fsync_path(const std::string &p)
{
    int fd = open(p.c_str(), O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int save_atomic(DcmFileFormat &ff, const char *path, E_TransferSyntax xfer)
{
    std::string tmp = tmp_name(path);
    OFCondition c = ff.saveFile(tmp.c_str(), xfer, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0,
                                EWM_createNewMeta);
    if (c.bad()) {
        unlink(tmp.c_str());
        return h19_fail(H19_EIO, "%s: cannot write DICOM file: %s", path, c.text());
    }
    if (fsync_path(tmp) != 0) {
        int e = errno;
        unlink(tmp.c_str());
        return h19_fail(H19_EIO, "%s: fsync failed: %s", tmp.c_str(), strerror(e));
    }
    if (rename(tmp.c_str(), path) != 0) {
        int e = errno;
        unlink(tmp.c_str());
        return h19_fail(H19_EIO, "%s: cannot rename from %s: %s", path, tmp.c_str(), strerror(e));
    }
    return H19_OK;
}

bool is_jpeg2000(const std::string &ts);

// Loads the whole file into memory so that a truncated element is an error now, not later.
int load_file(DcmFileFormat &ff, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return h19_fail(H19_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return h19_fail(H19_EIO, "%s: not a regular file", path);
    OFCondition c = ff.loadFile(path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
    if (c.bad()) {
        // A JPEG 2000 file DCMTK cannot even parse (e.g. pixel data not encapsulated) still gets
        // the JPEG 2000 message: read the meta header alone to learn its transfer syntax.
        DcmFileFormat meta;
        OFString ts;
        if (meta.loadFile(path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_metaOnly).good() &&
            meta.getMetaInfo() && meta.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts).good() &&
            is_jpeg2000(ts.c_str()))
            return h19_fail(H19_EUNSUP, "%s: unsupported transfer syntax %s (JPEG 2000), and the file does not parse: %s",
                            path, ts.c_str(), c.text());
        return h19_fail(H19_EFORMAT, "%s: not a readable DICOM file (truncated or corrupt): %s", path, c.text());
    }
    c = ff.loadAllDataIntoMemory();
    if (c.bad()) return h19_fail(H19_EFORMAT, "%s: truncated or corrupt DICOM file: %s", path, c.text());
    return H19_OK;
}

// The transfer syntax named by the meta header (or detected for a bare data set).
std::string xfer_uid(DcmFileFormat &ff)
{
    OFString ts;
    if (ff.getMetaInfo() && ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts).good() && !ts.empty())
        return ts.c_str();
    DcmXfer x(ff.getDataset()->getOriginalXfer());
    return x.getXferID();
}

bool is_jpeg2000(const std::string &ts)
{
    // 1.2.840.10008.1.2.4.90-93: JPEG 2000 (Part 1 and 2); .201-.203: High-Throughput JPEG 2000.
    static const char *const j2k[] = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.92",
                                      "1.2.840.10008.1.2.4.93", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
                                      "1.2.840.10008.1.2.4.203"};
    for (const char *u : j2k)
        if (ts == u) return true;
    return false;
}

// ---- metadata --------------------------------------------------------------------------------

void read_meta(DcmDataset *ds, dcm_ct_meta *m)
{
    memset(m, 0, sizeof *m);
    get_str(ds, DCM_PatientName, m->patient_name, sizeof m->patient_name);
    get_str(ds, DCM_PatientID, m->patient_id, sizeof m->patient_id);
    DcmItem *opi = nullptr;
    if (ds->findAndGetSequenceItem(DCM_OtherPatientIDsSequence, opi, 0).good() && opi)
        get_str(opi, DCM_PatientID, m->other_patient_id, sizeof m->other_patient_id);
    else
        get_str(ds, DCM_RETIRED_OtherPatientIDs, m->other_patient_id, sizeof m->other_patient_id);
    get_str(ds, DCM_PatientBirthDate, m->birth_date, sizeof m->birth_date);
    get_str(ds, DCM_PatientSex, m->sex, sizeof m->sex);
    get_str(ds, DCM_StudyDate, m->study_date, sizeof m->study_date);
    get_str(ds, DCM_StudyTime, m->study_time, sizeof m->study_time);
    get_str(ds, DCM_InstitutionName, m->institution, sizeof m->institution);
    get_str(ds, DCM_ReferringPhysicianName, m->referring_physician, sizeof m->referring_physician);
    get_str(ds, DCM_AccessionNumber, m->accession, sizeof m->accession);
    get_str(ds, DCM_StudyInstanceUID, m->study_uid, sizeof m->study_uid);
    get_str(ds, DCM_SeriesInstanceUID, m->series_uid, sizeof m->series_uid);
    get_str(ds, DCM_SOPInstanceUID, m->sop_uid, sizeof m->sop_uid);
    get_str(ds, DCM_FrameOfReferenceUID, m->frame_of_ref_uid, sizeof m->frame_of_ref_uid);
    get_str(ds, DCM_Modality, m->modality, sizeof m->modality);
    Uint16 u = 0;
    if (ds->findAndGetUint16(DCM_Rows, u).good()) m->rows = u;
    if (ds->findAndGetUint16(DCM_Columns, u).good()) m->cols = u;
    m->pixel_spacing[0] = m->pixel_spacing[1] = 1.0;
    double a = 0, b = 0;
    if (get_f64(ds, DCM_PixelSpacing, 0, &a) && get_f64(ds, DCM_PixelSpacing, 1, &b)) {
        m->pixel_spacing[0] = a;
        m->pixel_spacing[1] = b;
    }
    if (!get_f64(ds, DCM_SliceThickness, 0, &m->slice_thickness)) m->slice_thickness = 0;
    m->has_position = 1;
    for (int k = 0; k < 3; k++)
        if (!get_f64(ds, DCM_ImagePositionPatient, (unsigned long)k, &m->position[k])) m->has_position = 0;
    if (!m->has_position) memset(m->position, 0, sizeof m->position);
    m->has_orientation = 1;
    for (int k = 0; k < 6; k++)
        if (!get_f64(ds, DCM_ImageOrientationPatient, (unsigned long)k, &m->orientation[k])) m->has_orientation = 0;
    if (!m->has_orientation) {
        static const double ax[6] = {1, 0, 0, 0, 1, 0};
        memcpy(m->orientation, ax, sizeof ax);
    }
    Sint32 inst = 0;
    m->has_instance_number = ds->findAndGetSint32(DCM_InstanceNumber, inst).good() ? 1 : 0;
    m->instance_number = m->has_instance_number ? (int)inst : 0;
    if (!get_f64(ds, DCM_RescaleSlope, 0, &m->rescale_slope)) m->rescale_slope = 1.0;
    if (!get_f64(ds, DCM_RescaleIntercept, 0, &m->rescale_intercept)) m->rescale_intercept = 0.0;
    if (!get_f64(ds, DCM_WindowCenter, 0, &m->window_center)) m->window_center = DCM_LUNG_CENTER;
    if (!get_f64(ds, DCM_WindowWidth, 0, &m->window_width)) m->window_width = DCM_LUNG_WIDTH;
}

int put(DcmItem *it, const DcmTagKey &tag, const std::string &v, const char *path)
{
    OFCondition c = it->putAndInsertString(tag, v.c_str());
    if (c.bad())
        return h19_fail(H19_EFORMAT, "%s: cannot set %s %s to '%.60s': %s", path, tag_str(tag).c_str(),
                        DcmTag(tag).getTagName(), v.c_str(), c.text());
    return H19_OK;
}

// ---- extra elements (tests of de-identification) ----------------------------------------------

int insert_elems(DcmItem *it, const dcm_elem *el, int n, const char *path, int depth)
{
    if (depth > 16) return h19_fail(H19_EARG, "%s: extra elements nested deeper than 16 sequences", path);
    for (int i = 0; i < n; i++) {
        const dcm_elem &e = el[i];
        DcmTagKey key((Uint16)(e.tag >> 16), (Uint16)(e.tag & 0xffff));
        // An empty VR means "the data dictionary's VR" (standard tags only).
        DcmVR vr = e.vr[0] ? DcmVR(e.vr) : DcmTag(key).getVR();
        if (!e.vr[0] && vr.getEVR() == EVR_ox) vr = DcmVR(EVR_OB);
        if (!e.vr[0] && (vr.getEVR() == EVR_xs || vr.getEVR() == EVR_lt)) vr = DcmVR(EVR_US);
        if (vr.getEVR() == EVR_UNKNOWN || vr.getEVR() == EVR_UNKNOWN2B)
            return h19_fail(H19_EARG, "%s: extra element %s: unknown VR '%s'", path, tag_str(key).c_str(), e.vr);
        DcmTag tag(key, vr);
        if (vr.getEVR() == EVR_SQ) {
            DcmSequenceOfItems *sq = new DcmSequenceOfItems(tag);
            for (int k = 0; k < e.nitems; k++) {
                DcmItem *item = new DcmItem();
                int rc = insert_elems(item, e.items[k], e.item_nelem[k], path, depth + 1);
                if (rc) {
                    delete item;
                    delete sq;
                    return rc;
                }
                sq->append(item);
            }
            OFCondition c = it->insert(sq, OFTrue);
            if (c.bad()) {
                delete sq;
                return h19_fail(H19_EFORMAT, "%s: cannot insert sequence %s: %s", path, tag_str(key).c_str(), c.text());
            }
            continue;
        }
        DcmElement *elem = nullptr;
        OFCondition c = DcmItem::newDicomElementWithVR(elem, tag);
        if (c.bad() || !elem)
            return h19_fail(H19_EFORMAT, "%s: cannot create element %s %s: %s", path, tag_str(key).c_str(), e.vr,
                            c.text());
        const char *val = e.value ? e.value : "";
        if (vr.getEVR() == EVR_OB || vr.getEVR() == EVR_UN) {
            c = elem->putUint8Array(reinterpret_cast<const Uint8 *>(val), (unsigned long)e.value_len);
        } else if (vr.getEVR() == EVR_OW) {
            // bytes in little-endian order, as they will appear in an Explicit VR LE file
            std::vector<Uint16> w((e.value_len + 1) / 2, 0);
            for (size_t k = 0; k < e.value_len; k++)
                w[k / 2] = (Uint16)(w[k / 2] | ((Uint16)(unsigned char)val[k] << (8 * (k % 2))));
            c = elem->putUint16Array(w.data(), (unsigned long)w.size());
        } else {
            c = elem->putString(val);
        }
        if (c.good()) c = it->insert(elem, OFTrue);
        if (c.bad()) {
            delete elem;
            return h19_fail(H19_EFORMAT, "%s: cannot set element %s %s: %s", path, tag_str(key).c_str(), e.vr, c.text());
        }
    }
    return H19_OK;
}

// ---- de-identification table (PS3.15 Annex E, Table E.1-1, Basic Profile column) --------------

#define T(g, e) ((uint32_t)(0x##g##u) << 16 | (uint32_t)(0x##e##u))
// Where the standard gives a choice (X/Z, X/D, Z/D, X/Z/D) we pick by the attribute's type in the
// CT Image IOD: Z for Type 2 attributes (they must stay, empty), X otherwise. Referenced Image /
// Source Image sequences ("X/Z/U*") are kept and recursed into, their UIDs remapped (U*).
const dcm_deid_rule g_rules[] = {
    {T(0000, 1000), 'X', "Affected SOP Instance UID"},
    {T(0000, 1001), 'U', "Requested SOP Instance UID"},
    {T(0002, 0003), 'U', "Media Storage SOP Instance UID"},
    {T(0004, 1511), 'U', "Referenced SOP Instance UID in File"},
    {T(0008, 0012), 'X', "Instance Creation Date"},
    {T(0008, 0013), 'X', "Instance Creation Time"},
    {T(0008, 0014), 'U', "Instance Creator UID"},
    {T(0008, 0015), 'X', "Instance Coercion DateTime"},
    {T(0008, 0018), 'U', "SOP Instance UID"},
    {T(0008, 0020), 'Z', "Study Date"},
    {T(0008, 0021), 'X', "Series Date"},
    {T(0008, 0022), 'X', "Acquisition Date"},
    {T(0008, 0023), 'Z', "Content Date"},
    {T(0008, 0024), 'X', "Overlay Date"},
    {T(0008, 0025), 'X', "Curve Date"},
    {T(0008, 002A), 'X', "Acquisition DateTime"},
    {T(0008, 0030), 'Z', "Study Time"},
    {T(0008, 0031), 'X', "Series Time"},
    {T(0008, 0032), 'X', "Acquisition Time"},
    {T(0008, 0033), 'Z', "Content Time"},
    {T(0008, 0034), 'X', "Overlay Time"},
    {T(0008, 0035), 'X', "Curve Time"},
    {T(0008, 0050), 'Z', "Accession Number"},
    {T(0008, 0058), 'U', "Failed SOP Instance UID List"},
    {T(0008, 0080), 'X', "Institution Name"},
    {T(0008, 0081), 'X', "Institution Address"},
    {T(0008, 0082), 'X', "Institution Code Sequence"},
    {T(0008, 0090), 'Z', "Referring Physician's Name"},
    {T(0008, 0092), 'X', "Referring Physician's Address"},
    {T(0008, 0094), 'X', "Referring Physician's Telephone Numbers"},
    {T(0008, 0096), 'X', "Referring Physician Identification Sequence"},
    {T(0008, 009C), 'Z', "Consulting Physician's Name"},
    {T(0008, 009D), 'X', "Consulting Physician Identification Sequence"},
    {T(0008, 010D), 'U', "Context Group Extension Creator UID"},
    {T(0008, 0201), 'X', "Timezone Offset From UTC"},
    {T(0008, 1010), 'X', "Station Name"},
    {T(0008, 1030), 'X', "Study Description"},
    {T(0008, 103E), 'X', "Series Description"},
    {T(0008, 1040), 'X', "Institutional Department Name"},
    {T(0008, 1041), 'X', "Institutional Department Type Code Sequence"},
    {T(0008, 1048), 'X', "Physician(s) of Record"},
    {T(0008, 1049), 'X', "Physician(s) of Record Identification Sequence"},
    {T(0008, 1050), 'X', "Performing Physician's Name"},
    {T(0008, 1052), 'X', "Performing Physician Identification Sequence"},
    {T(0008, 1060), 'X', "Name of Physician(s) Reading Study"},
    {T(0008, 1062), 'X', "Physician(s) Reading Study Identification Sequence"},
    {T(0008, 1070), 'X', "Operators' Name"},
    {T(0008, 1072), 'X', "Operator Identification Sequence"},
    {T(0008, 1080), 'X', "Admitting Diagnoses Description"},
    {T(0008, 1084), 'X', "Admitting Diagnoses Code Sequence"},
    {T(0008, 1110), 'X', "Referenced Study Sequence"},
    {T(0008, 1111), 'X', "Referenced Performed Procedure Step Sequence"},
    {T(0008, 1120), 'X', "Referenced Patient Sequence"},
    {T(0008, 1155), 'U', "Referenced SOP Instance UID"},
    {T(0008, 1195), 'U', "Transaction UID"},
    {T(0008, 2111), 'X', "Derivation Description"},
    {T(0008, 3010), 'U', "Irradiation Event UID"},
    {T(0008, 4000), 'X', "Identifying Comments"},
    {T(0008, 9123), 'U', "Creator-Version UID"},
    {T(0010, 0010), 'Z', "Patient's Name"},
    {T(0010, 0020), 'Z', "Patient ID"},
    {T(0010, 0021), 'X', "Issuer of Patient ID"},
    {T(0010, 0024), 'X', "Issuer of Patient ID Qualifiers Sequence"},
    {T(0010, 0030), 'Z', "Patient's Birth Date"},
    {T(0010, 0032), 'X', "Patient's Birth Time"},
    {T(0010, 0033), 'X', "Patient's Birth Date in Alternative Calendar"},
    {T(0010, 0034), 'X', "Patient's Death Date in Alternative Calendar"},
    {T(0010, 0035), 'X', "Patient's Alternative Calendar"},
    {T(0010, 0040), 'Z', "Patient's Sex"},
    {T(0010, 0050), 'X', "Patient's Insurance Plan Code Sequence"},
    {T(0010, 0101), 'X', "Patient's Primary Language Code Sequence"},
    {T(0010, 0102), 'X', "Patient's Primary Language Modifier Code Sequence"},
    {T(0010, 1000), 'X', "Other Patient IDs"},
    {T(0010, 1001), 'X', "Other Patient Names"},
    {T(0010, 1002), 'X', "Other Patient IDs Sequence"},
    {T(0010, 1005), 'X', "Patient's Birth Name"},
    {T(0010, 1010), 'X', "Patient's Age"},
    {T(0010, 1020), 'X', "Patient's Size"},
    {T(0010, 1030), 'X', "Patient's Weight"},
    {T(0010, 1040), 'X', "Patient's Address"},
    {T(0010, 1050), 'X', "Insurance Plan Identification"},
    {T(0010, 1060), 'X', "Patient's Mother's Birth Name"},
    {T(0010, 1080), 'X', "Military Rank"},
    {T(0010, 1081), 'X', "Branch of Service"},
    {T(0010, 1090), 'X', "Medical Record Locator"},
    {T(0010, 1100), 'X', "Referenced Patient Photo Sequence"},
    {T(0010, 2000), 'X', "Medical Alerts"},
    {T(0010, 2110), 'X', "Allergies"},
    {T(0010, 2150), 'X', "Country of Residence"},
    {T(0010, 2152), 'X', "Region of Residence"},
    {T(0010, 2154), 'X', "Patient's Telephone Numbers"},
    {T(0010, 2155), 'X', "Patient's Telecom Information"},
    {T(0010, 2160), 'X', "Ethnic Group"},
    {T(0010, 2180), 'X', "Occupation"},
    {T(0010, 21A0), 'X', "Smoking Status"},
    {T(0010, 21B0), 'X', "Additional Patient History"},
    {T(0010, 21C0), 'X', "Pregnancy Status"},
    {T(0010, 21D0), 'X', "Last Menstrual Date"},
    {T(0010, 21F0), 'X', "Patient's Religious Preference"},
    {T(0010, 2203), 'X', "Patient's Sex Neutered"},
    {T(0010, 2297), 'X', "Responsible Person"},
    {T(0010, 2299), 'X', "Responsible Organization"},
    {T(0010, 4000), 'X', "Patient Comments"},
    {T(0018, 0010), 'Z', "Contrast/Bolus Agent"},
    {T(0018, 1000), 'X', "Device Serial Number"},
    {T(0018, 1002), 'U', "Device UID"},
    {T(0018, 1004), 'X', "Plate ID"},
    {T(0018, 1005), 'X', "Generator ID"},
    {T(0018, 1007), 'X', "Cassette ID"},
    {T(0018, 1008), 'X', "Gantry ID"},
    {T(0018, 100B), 'U', "Manufacturer's Device Class UID"},
    {T(0018, 1012), 'X', "Date of Secondary Capture"},
    {T(0018, 1014), 'X', "Time of Secondary Capture"},
    {T(0018, 1030), 'X', "Protocol Name"},
    {T(0018, 1200), 'X', "Date of Last Calibration"},
    {T(0018, 1201), 'X', "Time of Last Calibration"},
    {T(0018, 1400), 'X', "Acquisition Device Processing Description"},
    {T(0018, 4000), 'X', "Acquisition Comments"},
    {T(0018, 700A), 'X', "Detector ID"},
    {T(0018, 9367), 'X', "X-Ray Source ID"},
    {T(0018, 9424), 'X', "Acquisition Protocol Description"},
    {T(0018, A003), 'X', "Contribution Description"},
    {T(0020, 000D), 'U', "Study Instance UID"},
    {T(0020, 000E), 'U', "Series Instance UID"},
    {T(0020, 0010), 'Z', "Study ID"},
    {T(0020, 0052), 'U', "Frame of Reference UID"},
    {T(0020, 0200), 'U', "Synchronization Frame of Reference UID"},
    {T(0020, 3401), 'X', "Modifying Device ID"},
    {T(0020, 3404), 'X', "Modifying Device Manufacturer"},
    {T(0020, 3406), 'X', "Modified Image Description"},
    {T(0020, 4000), 'X', "Image Comments"},
    {T(0020, 9158), 'X', "Frame Comments"},
    {T(0020, 9161), 'U', "Concatenation UID"},
    {T(0020, 9164), 'U', "Dimension Organization UID"},
    {T(0028, 1199), 'U', "Palette Color Lookup Table UID"},
    {T(0028, 1214), 'U', "Large Palette Color Lookup Table UID"},
    {T(0028, 4000), 'X', "Image Presentation Comments"},
    {T(0032, 0012), 'X', "Study ID Issuer"},
    {T(0032, 1020), 'X', "Scheduled Study Location"},
    {T(0032, 1021), 'X', "Scheduled Study Location AE Title"},
    {T(0032, 1030), 'X', "Reason for Study"},
    {T(0032, 1032), 'X', "Requesting Physician"},
    {T(0032, 1033), 'X', "Requesting Service"},
    {T(0032, 1060), 'X', "Requested Procedure Description"},
    {T(0032, 1070), 'X', "Requested Contrast Agent"},
    {T(0032, 4000), 'X', "Study Comments"},
    {T(0038, 0010), 'X', "Admission ID"},
    {T(0038, 0011), 'X', "Issuer of Admission ID"},
    {T(0038, 0014), 'X', "Issuer of Admission ID Sequence"},
    {T(0038, 001E), 'X', "Scheduled Patient Institution Residence"},
    {T(0038, 0020), 'X', "Admitting Date"},
    {T(0038, 0021), 'X', "Admitting Time"},
    {T(0038, 0040), 'X', "Discharge Diagnosis Description"},
    {T(0038, 0050), 'X', "Special Needs"},
    {T(0038, 0060), 'X', "Service Episode ID"},
    {T(0038, 0061), 'X', "Issuer of Service Episode ID"},
    {T(0038, 0062), 'X', "Service Episode Description"},
    {T(0038, 0300), 'X', "Current Patient Location"},
    {T(0038, 0400), 'X', "Patient's Institution Residence"},
    {T(0038, 0500), 'X', "Patient State"},
    {T(0038, 1234), 'X', "Referenced Patient Alias Sequence"},
    {T(0038, 4000), 'X', "Visit Comments"},
    {T(0040, 0001), 'X', "Scheduled Station AE Title"},
    {T(0040, 0002), 'X', "Scheduled Procedure Step Start Date"},
    {T(0040, 0003), 'X', "Scheduled Procedure Step Start Time"},
    {T(0040, 0004), 'X', "Scheduled Procedure Step End Date"},
    {T(0040, 0005), 'X', "Scheduled Procedure Step End Time"},
    {T(0040, 0006), 'X', "Scheduled Performing Physician's Name"},
    {T(0040, 0007), 'X', "Scheduled Procedure Step Description"},
    {T(0040, 000B), 'X', "Scheduled Performing Physician Identification Sequence"},
    {T(0040, 0010), 'X', "Scheduled Station Name"},
    {T(0040, 0011), 'X', "Scheduled Procedure Step Location"},
    {T(0040, 0012), 'X', "Pre-Medication"},
    {T(0040, 0241), 'X', "Performed Station AE Title"},
    {T(0040, 0242), 'X', "Performed Station Name"},
    {T(0040, 0243), 'X', "Performed Location"},
    {T(0040, 0244), 'X', "Performed Procedure Step Start Date"},
    {T(0040, 0245), 'X', "Performed Procedure Step Start Time"},
    {T(0040, 0250), 'X', "Performed Procedure Step End Date"},
    {T(0040, 0251), 'X', "Performed Procedure Step End Time"},
    {T(0040, 0253), 'X', "Performed Procedure Step ID"},
    {T(0040, 0254), 'X', "Performed Procedure Step Description"},
    {T(0040, 0275), 'X', "Request Attributes Sequence"},
    {T(0040, 0280), 'X', "Comments on the Performed Procedure Step"},
    {T(0040, 0555), 'X', "Acquisition Context Sequence"},
    {T(0040, 1001), 'X', "Requested Procedure ID"},
    {T(0040, 1004), 'X', "Patient Transport Arrangements"},
    {T(0040, 1005), 'X', "Requested Procedure Location"},
    {T(0040, 1010), 'X', "Names of Intended Recipients of Results"},
    {T(0040, 1011), 'X', "Intended Recipients of Results Identification Sequence"},
    {T(0040, 1101), 'D', "Person Identification Code Sequence"},
    {T(0040, 1102), 'X', "Person's Address"},
    {T(0040, 1103), 'X', "Person's Telephone Numbers"},
    {T(0040, 1400), 'X', "Requested Procedure Comments"},
    {T(0040, 2001), 'X', "Reason for the Imaging Service Request"},
    {T(0040, 2008), 'X', "Order Entered By"},
    {T(0040, 2009), 'X', "Order Enterer's Location"},
    {T(0040, 2010), 'X', "Order Callback Phone Number"},
    {T(0040, 2016), 'Z', "Placer Order Number / Imaging Service Request"},
    {T(0040, 2017), 'Z', "Filler Order Number / Imaging Service Request"},
    {T(0040, 2400), 'X', "Imaging Service Request Comments"},
    {T(0040, 3001), 'X', "Confidentiality Constraint on Patient Data Description"},
    {T(0040, 4023), 'U', "Referenced General Purpose Scheduled Procedure Step Transaction UID"},
    {T(0040, 4025), 'X', "Scheduled Station Name Code Sequence"},
    {T(0040, 4027), 'X', "Scheduled Station Geographic Location Code Sequence"},
    {T(0040, 4028), 'X', "Performed Station Name Code Sequence"},
    {T(0040, 4030), 'X', "Performed Station Geographic Location Code Sequence"},
    {T(0040, 4034), 'X', "Scheduled Human Performers Sequence"},
    {T(0040, 4035), 'X', "Actual Human Performers Sequence"},
    {T(0040, 4036), 'X', "Human Performer's Organization"},
    {T(0040, 4037), 'X', "Human Performer's Name"},
    {T(0040, A027), 'X', "Verifying Organization"},
    {T(0040, A073), 'D', "Verifying Observer Sequence"},
    {T(0040, A075), 'D', "Verifying Observer Name"},
    {T(0040, A078), 'X', "Author Observer Sequence"},
    {T(0040, A07A), 'X', "Participant Sequence"},
    {T(0040, A07C), 'X', "Custodial Organization Sequence"},
    {T(0040, A088), 'Z', "Verifying Observer Identification Code Sequence"},
    {T(0040, A120), 'D', "DateTime"},
    {T(0040, A121), 'D', "Date"},
    {T(0040, A122), 'D', "Time"},
    {T(0040, A123), 'D', "Person Name"},
    {T(0040, A124), 'U', "UID"},
    {T(0040, A730), 'X', "Content Sequence"},
    {T(0040, DB0C), 'U', "Template Extension Organization UID"},
    {T(0040, DB0D), 'U', "Template Extension Creator UID"},
    {T(0070, 0001), 'D', "Graphic Annotation Sequence"},
    {T(0070, 0084), 'Z', "Content Creator's Name"},
    {T(0070, 0086), 'X', "Content Creator's Identification Code Sequence"},
    {T(0070, 031A), 'U', "Fiducial UID"},
    {T(0088, 0140), 'U', "Storage Media File-set UID"},
    {T(0088, 0200), 'X', "Icon Image Sequence"},
    {T(0088, 0904), 'X', "Topic Title"},
    {T(0088, 0906), 'X', "Topic Subject"},
    {T(0088, 0910), 'X', "Topic Author"},
    {T(0088, 0912), 'X', "Topic Keywords"},
    {T(2030, 0020), 'X', "Text String"},
    {T(3006, 0024), 'U', "Referenced Frame of Reference UID"},
    {T(3006, 00C2), 'U', "Related Frame of Reference UID"},
    {T(3006, 00A6), 'Z', "ROI Interpreter"},
    {T(300A, 0013), 'U', "Dose Reference UID"},
    {T(300E, 0008), 'X', "Reviewer Name"},
    {T(4000, 0010), 'X', "Arbitrary"},
    {T(4000, 4000), 'X', "Text Comments"},
    {T(4008, 0042), 'X', "Results ID Issuer"},
    {T(4008, 0102), 'X', "Interpretation Recorder"},
    {T(4008, 010A), 'X', "Interpretation Transcriber"},
    {T(4008, 010B), 'X', "Interpretation Text"},
    {T(4008, 010C), 'X', "Interpretation Author"},
    {T(4008, 0111), 'X', "Interpretation Approver Sequence"},
    {T(4008, 0114), 'X', "Physician Approving Interpretation"},
    {T(4008, 0115), 'X', "Interpretation Diagnosis Description"},
    {T(4008, 0118), 'X', "Results Distribution List Sequence"},
    {T(4008, 0119), 'X', "Distribution Name"},
    {T(4008, 011A), 'X', "Distribution Address"},
    {T(4008, 0202), 'X', "Interpretation ID Issuer"},
    {T(4008, 0300), 'X', "Impressions"},
    {T(4008, 4000), 'X', "Results Comments"},
    {T(0400, 0100), 'X', "Digital Signature UID"},
    {T(0400, 0402), 'X', "Referenced Digital Signature Sequence"},
    {T(0400, 0403), 'X', "Referenced SOP Instance MAC Sequence"},
    {T(0400, 0404), 'X', "MAC"},
    {T(0400, 0550), 'X', "Modified Attributes Sequence"},
    {T(0400, 0561), 'X', "Original Attributes Sequence"},
    {T(FFFA, FFFA), 'X', "Digital Signatures Sequence"},
    {T(FFFC, FFFC), 'X', "Data Set Trailing Padding"},
};
#undef T
const int g_nrules = (int)(sizeof g_rules / sizeof g_rules[0]);

std::vector<dcm_deid_rule> g_sorted_rules;
std::once_flag g_rules_once;

const dcm_deid_rule *find_rule(uint32_t tag)
{
    std::call_once(g_rules_once, [] {
        g_sorted_rules.assign(g_rules, g_rules + g_nrules);
        std::sort(g_sorted_rules.begin(), g_sorted_rules.end(),
                  [](const dcm_deid_rule &a, const dcm_deid_rule &b) { return a.tag < b.tag; });
    });
    auto it = std::lower_bound(g_sorted_rules.begin(), g_sorted_rules.end(), tag,
                               [](const dcm_deid_rule &r, uint32_t t) { return r.tag < t; });
    if (it != g_sorted_rules.end() && it->tag == tag) return &*it;
    return nullptr;
}

struct deid_ctx {
    const char *path;
    const char *secret;
    size_t secret_len;
    std::string pseudonym;
    std::string pname;
    bool keep_private;
    long removed = 0, emptied = 0, replaced = 0, uids = 0;
};

// Standard UIDs (SOP classes, transfer syntaxes, coding schemes, the DICOM root) identify no one
// and must keep their value for the file to stay valid.
bool is_standard_uid(const char *u)
{
    if (!strncmp(u, "1.2.840.10008.", 14)) return true;
    return dcmFindNameOfUID(u, nullptr) != nullptr;
}

int map_uid_element(DcmElement *el, deid_ctx &c)
{
    OFString all;
    if (el->getOFStringArray(all).bad()) return H19_OK;
    if (all.empty()) return H19_OK;
    std::string in = all.c_str(), out;
    size_t pos = 0;
    bool changed = false;
    while (pos <= in.size()) {
        size_t bs = in.find('\\', pos);
        std::string one = in.substr(pos, bs == std::string::npos ? std::string::npos : bs - pos);
        // UI values may be padded with a trailing NUL or space (PS3.5 6.2).
        while (!one.empty() && (one.back() == ' ' || one.back() == '\0')) one.pop_back();
        if (!out.empty() || pos) out += '\\';
        if (!one.empty() && !is_standard_uid(one.c_str())) {
            char nu[80];
            int rc = dcm_deid_uid(one.c_str(), c.secret, c.secret_len, nu);
            if (rc) return h19_fail_ctx(rc, "%s: %s", c.path, tag_str(el->getTag()).c_str());
            out += nu;
            changed = true;
        } else {
            out += one;
        }
        if (bs == std::string::npos) break;
        pos = bs + 1;
    }
    if (!changed) return H19_OK;
    OFCondition cond = el->putString(out.c_str());
    if (cond.bad())
        return h19_fail(H19_EFORMAT, "%s: cannot replace UID in %s: %s", c.path, tag_str(el->getTag()).c_str(),
                        cond.text());
    c.uids++;
    return H19_OK;
}

// D: a dummy value of the element's VR (PS3.15 E.1.1: "replace with a non-zero length value that
// may be a dummy value and consistent with the VR").
const char *dummy_for(DcmEVR vr)
{
    switch (vr) {
    case EVR_PN: return "ANONYMOUS";
    case EVR_DA: return "19000101";
    case EVR_TM: return "000000";
    case EVR_DT: return "19000101000000";
    case EVR_AS: return "000Y";
    case EVR_DS:
    case EVR_IS: return "0";
    case EVR_CS: return "ANONYMIZED";
    default: return "ANONYMIZED";
    }
}

int deid_item(DcmItem *item, deid_ctx &c, int depth);

int deid_element(DcmItem *item, DcmElement *el, deid_ctx &c, int depth, bool *remove)
{
    *remove = false;
    const DcmTag &tag = el->getTag();
    Uint16 g = tag.getGroup(), e = tag.getElement();
    uint32_t key = (uint32_t)g << 16 | e;
    // Private attributes (odd groups) carry vendor data, often identifying (PS3.15 E.3.10 Retain
    // Safe Private is an option this profile does not take).
    if ((g & 1) && !c.keep_private) {
        *remove = true;
        return H19_OK;
    }
    // Curves (50xx) and overlay data/comments (60xx,3000 / 60xx,4000) of Table E.1-1.
    if ((g & 0xff00) == 0x5000 || ((g & 0xff00) == 0x6000 && (e == 0x3000 || e == 0x4000))) {
        *remove = true;
        return H19_OK;
    }
    if (key == 0x00100020u || key == 0x00100010u) {
        const std::string &v = key == 0x00100020u ? c.pseudonym : c.pname;
        OFCondition cond = el->putString(v.c_str());
        if (cond.bad())
            return h19_fail(H19_EFORMAT, "%s: cannot set %s: %s", c.path, tag_str(tag).c_str(), cond.text());
        c.replaced++;
        return H19_OK;
    }
    const dcm_deid_rule *r = find_rule(key);
    DcmEVR vr = el->ident();
    if (r) {
        switch (r->action) {
        case 'X':
            *remove = true;
            return H19_OK;
        case 'Z':
            el->clear();
            c.emptied++;
            return H19_OK;
        case 'D':
            if (vr == EVR_SQ) {
                // A dummy sequence: keep it but with no identifying content.
                el->clear();
            } else if (vr == EVR_UI) {
                return map_uid_element(el, c);
            } else {
                OFCondition cond = el->putString(dummy_for(vr));
                if (cond.bad()) el->clear();
            }
            c.replaced++;
            return H19_OK;
        case 'U':
            if (vr == EVR_UI) return map_uid_element(el, c);
            *remove = true; // a UID attribute with a non-UI VR (malformed): drop it
            return H19_OK;
        default: break;
        }
    }
    // Beyond the table: any other non-empty person name is replaced too. The profile is a minimum
    // (PS3.15 E.1); a name in an attribute it does not list (DICONDE evaluators, retired trial
    // attributes, newer editions) is still a name.
    if (vr == EVR_PN && el->getLength() > 0) {
        OFCondition cond = el->putString(dummy_for(EVR_PN));
        if (cond.bad()) return h19_fail(H19_EFORMAT, "%s: cannot replace %s: %s", c.path, tag_str(tag).c_str(), cond.text());
        c.replaced++;
        return H19_OK;
    }
    if (vr == EVR_UI) return map_uid_element(el, c);
    if (vr == EVR_SQ) {
        DcmSequenceOfItems *sq = static_cast<DcmSequenceOfItems *>(el);
        for (unsigned long i = 0; i < sq->card(); i++) H19_TRY(deid_item(sq->getItem(i), c, depth + 1));
    }
    (void)item;
    return H19_OK;
}

int deid_item(DcmItem *item, deid_ctx &c, int depth)
{
    if (depth > 64) return h19_fail(H19_EFORMAT, "%s: sequences nested deeper than 64", c.path);
    for (long i = (long)item->card() - 1; i >= 0; i--) {
        DcmElement *el = item->getElement((unsigned long)i);
        if (!el) continue;
        bool rm = false;
        H19_TRY(deid_element(item, el, c, depth, &rm));
        if (rm) {
            DcmElement *gone = item->remove(el);
            delete gone;
            c.removed++;
        }
    }
    return H19_OK;
}

} // namespace

// =================================================================================================
extern "C" {

void dcm_meta_init(dcm_ct_meta *m)
{
    memset(m, 0, sizeof *m);
    copy_str(m->modality, sizeof m->modality, "CT");
    m->pixel_spacing[0] = m->pixel_spacing[1] = 1.0;
    m->slice_thickness = 1.0;
    static const double ax[6] = {1, 0, 0, 0, 1, 0};
    memcpy(m->orientation, ax, sizeof ax);
    m->instance_number = 1;
    m->rescale_slope = 1.0;
    m->rescale_intercept = -1024.0;
    m->window_center = DCM_LUNG_CENTER;
    m->window_width = DCM_LUNG_WIDTH;
    m->has_position = m->has_orientation = m->has_instance_number = 1;
}

const char *dcm_dict_vr(uint32_t tag, char vr[3])
{
    copy_str(vr, 3, "UN");
    if (setup(nullptr)) return "Unknown";
    DcmTag t((Uint16)(tag >> 16), (Uint16)(tag & 0xffff));
    DcmVR v = t.getVR();
    if (v.getEVR() == EVR_ox) v = DcmVR(EVR_OB);
    if (v.getEVR() == EVR_xs || v.getEVR() == EVR_lt) v = DcmVR(EVR_US);
    if (v.getEVR() != EVR_UNKNOWN && v.getEVR() != EVR_UNKNOWN2B) copy_str(vr, 3, v.getVRName());
    // The name must outlive this call: take it from the (process-lifetime) dictionary entry.
    const char *name = nullptr;
    const DcmDataDictionary &dict = dcmDataDict.rdlock();
    const DcmDictEntry *e = dict.findEntry(DcmTagKey((Uint16)(tag >> 16), (Uint16)(tag & 0xffff)), nullptr);
    if (e) name = e->getTagName();
    dcmDataDict.rdunlock();
    return name ? name : "Unknown";
}

int dcm_uid_generate(char *out, const char *root)
{
    if (!out) return h19_fail(H19_EARG, "dcm_uid_generate: NULL output");
    H19_TRY(setup(nullptr));
    char buf[100];
    if (!dcmGenerateUniqueIdentifier(buf, root && *root ? root : SITE_INSTANCE_UID_ROOT))
        return h19_fail(H19_EIO, "dcm_uid_generate: DCMTK could not make a UID");
    if (strlen(buf) > 64) return h19_fail(H19_EARG, "dcm_uid_generate: root '%s' makes a UID over 64 chars", root);
    copy_str(out, 65, buf);
    return H19_OK;
}

int dcm_write_ct_ex(const char *path, const dcm_ct_meta *m, const int16_t *pixels, const dcm_elem *extra,
                    int nextra)
{
    if (!path || !m || !pixels) return h19_fail(H19_EARG, "dcm_write_ct: NULL argument");
    if (m->rows <= 0 || m->cols <= 0 || m->rows > 65535 || m->cols > 65535)
        return h19_fail(H19_EARG, "%s: bad image size %dx%d", path, m->rows, m->cols);
    if (!(m->rescale_slope != 0) || !std::isfinite(m->rescale_slope) || !std::isfinite(m->rescale_intercept))
        return h19_fail(H19_EARG, "%s: bad rescale slope %g / intercept %g", path, m->rescale_slope,
                        m->rescale_intercept);
    if (nextra < 0 || (nextra > 0 && !extra)) return h19_fail(H19_EARG, "%s: bad extra elements", path);
    H19_TRY(setup(path));

    DcmFileFormat ff;
    DcmDataset *ds = ff.getDataset();
    char uid_study[80], uid_series[80], uid_sop[80], uid_for[80];
    const char *study = m->study_uid, *series = m->series_uid, *sop = m->sop_uid, *forr = m->frame_of_ref_uid;
    if (!*study) { H19_TRY(dcm_uid_generate(uid_study, SITE_STUDY_UID_ROOT)); study = uid_study; }
    if (!*series) { H19_TRY(dcm_uid_generate(uid_series, SITE_SERIES_UID_ROOT)); series = uid_series; }
    if (!*sop) { H19_TRY(dcm_uid_generate(uid_sop, SITE_INSTANCE_UID_ROOT)); sop = uid_sop; }
    if (!*forr) { H19_TRY(dcm_uid_generate(uid_for, SITE_INSTANCE_UID_ROOT)); forr = uid_for; }

    // Strings are passed through as given; if any is not ASCII, declare UTF-8 (ISO_IR 192).
    const char *strs[] = {m->patient_name, m->patient_id, m->other_patient_id, m->institution,
                          m->referring_physician, m->accession};
    bool ascii = true;
    for (const char *s : strs)
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
            if (*p >= 0x80) ascii = false;
    if (!ascii) H19_TRY(put(ds, DCM_SpecificCharacterSet, "ISO_IR 192", path));

    char inst[32];
    snprintf(inst, sizeof inst, "%d", m->instance_number);
    // CT Image IOD (PS3.3 A.3): Patient, General Study, General Series, Frame of Reference, General
    // Equipment, General Image, Image Plane, Image Pixel, CT Image, SOP Common modules.
    H19_TRY(put(ds, DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL", path));
    H19_TRY(put(ds, DCM_SOPClassUID, UID_CTImageStorage, path));
    H19_TRY(put(ds, DCM_SOPInstanceUID, sop, path));
    H19_TRY(put(ds, DCM_StudyDate, m->study_date, path));
    H19_TRY(put(ds, DCM_StudyTime, m->study_time, path));
    H19_TRY(put(ds, DCM_ContentDate, m->study_date, path));
    H19_TRY(put(ds, DCM_ContentTime, m->study_time, path));
    H19_TRY(put(ds, DCM_AccessionNumber, m->accession, path));
    H19_TRY(put(ds, DCM_Modality, *m->modality ? m->modality : "CT", path));
    H19_TRY(put(ds, DCM_Manufacturer, "", path));
    H19_TRY(put(ds, DCM_InstitutionName, m->institution, path));
    H19_TRY(put(ds, DCM_ReferringPhysicianName, m->referring_physician, path));
    H19_TRY(put(ds, DCM_PatientName, m->patient_name, path));
    H19_TRY(put(ds, DCM_PatientID, m->patient_id, path));
    H19_TRY(put(ds, DCM_PatientBirthDate, m->birth_date, path));
    H19_TRY(put(ds, DCM_PatientSex, m->sex, path));
    if (*m->other_patient_id) {
        DcmItem *it = nullptr;
        OFCondition c = ds->findOrCreateSequenceItem(DCM_OtherPatientIDsSequence, it, 0);
        if (c.bad() || !it) return h19_fail(H19_EFORMAT, "%s: cannot create OtherPatientIDsSequence: %s", path, c.text());
        H19_TRY(put(it, DCM_PatientID, m->other_patient_id, path));
        H19_TRY(put(it, DCM_TypeOfPatientID, "TEXT", path));
    }
    H19_TRY(put(ds, DCM_SliceThickness, fmt_ds(m->slice_thickness), path));
    H19_TRY(put(ds, DCM_KVP, "", path));
    H19_TRY(put(ds, DCM_StudyInstanceUID, study, path));
    H19_TRY(put(ds, DCM_SeriesInstanceUID, series, path));
    H19_TRY(put(ds, DCM_StudyID, "", path));
    H19_TRY(put(ds, DCM_SeriesNumber, "1", path));
    H19_TRY(put(ds, DCM_AcquisitionNumber, "1", path));
    H19_TRY(put(ds, DCM_InstanceNumber, inst, path));
    H19_TRY(put(ds, DCM_PatientOrientation, "", path));
    H19_TRY(put(ds, DCM_ImagePositionPatient, fmt_ds_list(m->position, 3), path));
    H19_TRY(put(ds, DCM_ImageOrientationPatient, fmt_ds_list(m->orientation, 6), path));
    H19_TRY(put(ds, DCM_FrameOfReferenceUID, forr, path));
    H19_TRY(put(ds, DCM_PositionReferenceIndicator, "", path));
    H19_TRY(put(ds, DCM_SamplesPerPixel, "1", path));
    H19_TRY(put(ds, DCM_PhotometricInterpretation, "MONOCHROME2", path));
    H19_TRY(put(ds, DCM_Rows, std::to_string(m->rows), path));
    H19_TRY(put(ds, DCM_Columns, std::to_string(m->cols), path));
    H19_TRY(put(ds, DCM_PixelSpacing, fmt_ds_list(m->pixel_spacing, 2), path));
    H19_TRY(put(ds, DCM_BitsAllocated, "16", path));
    H19_TRY(put(ds, DCM_BitsStored, "16", path));
    H19_TRY(put(ds, DCM_HighBit, "15", path));
    H19_TRY(put(ds, DCM_PixelRepresentation, "1", path));
    H19_TRY(put(ds, DCM_WindowCenter, fmt_ds(m->window_center), path));
    H19_TRY(put(ds, DCM_WindowWidth, fmt_ds(m->window_width), path));
    H19_TRY(put(ds, DCM_RescaleIntercept, fmt_ds(m->rescale_intercept), path));
    H19_TRY(put(ds, DCM_RescaleSlope, fmt_ds(m->rescale_slope), path));
    H19_TRY(put(ds, DCM_RescaleType, "HU", path));
    size_t n = (size_t)m->rows * (size_t)m->cols;
    OFCondition c = ds->putAndInsertUint16Array(DCM_PixelData, reinterpret_cast<const Uint16 *>(pixels),
                                                (unsigned long)n);
    if (c.bad()) return h19_fail(H19_EFORMAT, "%s: cannot set pixel data: %s", path, c.text());
    if (nextra) H19_TRY(insert_elems(ds, extra, nextra, path, 0));
    return save_atomic(ff, path, EXS_LittleEndianExplicit);
}

int dcm_write_ct(const char *path, const dcm_ct_meta *meta, const int16_t *pixels)
{
    return dcm_write_ct_ex(path, meta, pixels, nullptr, 0);
}

int dcm_read_ct(const char *path, dcm_ct_meta *meta, float **hu)
{
    if (hu) *hu = nullptr;
    if (!path || !meta) return h19_fail(H19_EARG, "dcm_read_ct: NULL argument");
    H19_TRY(setup(path));
    DcmFileFormat ff;
    H19_TRY(load_file(ff, path));
    DcmDataset *ds = ff.getDataset();
    std::string ts = xfer_uid(ff);
    if (is_jpeg2000(ts))
        return h19_fail(H19_EUNSUP, "%s: unsupported transfer syntax %s (JPEG 2000): DCMTK has no JPEG 2000 decoder; "
                        "transcode it first (e.g. with gdcmconv --raw)", path, ts.c_str());
    DcmXfer xf(ds->getOriginalXfer());
    // A transfer syntax DCMTK does not know is refused even when the data set happens to parse:
    // its pixel data could be encoded any way.
    if (xf.getXfer() == EXS_Unknown || DcmXfer(ts.c_str()).getXfer() == EXS_Unknown)
        return h19_fail(H19_EUNSUP, "%s: unsupported transfer syntax %s", path, ts.c_str());
    read_meta(ds, meta);
    copy_str(meta->transfer_syntax, sizeof meta->transfer_syntax, ts.c_str());
    if (strcmp(meta->modality, "CT") != 0)
        return h19_fail(H19_EFORMAT, "%s: modality is '%s', expected CT", path, meta->modality);
    if (meta->rows <= 0 || meta->cols <= 0)
        return h19_fail(H19_EFORMAT, "%s: Rows/Columns missing or zero (%dx%d)", path, meta->rows, meta->cols);
    if (!(meta->rescale_slope != 0))
        return h19_fail(H19_EFORMAT, "%s: RescaleSlope is 0", path);
    Uint16 spp = 1, alloc = 0, stored = 0, high = 0, rep = 0;
    ds->findAndGetUint16(DCM_SamplesPerPixel, spp);
    if (spp != 1) return h19_fail(H19_EUNSUP, "%s: SamplesPerPixel is %u, a CT slice has 1", path, spp);
    if (ds->findAndGetUint16(DCM_BitsAllocated, alloc).bad())
        return h19_fail(H19_EFORMAT, "%s: BitsAllocated missing", path);
    if (alloc != 8 && alloc != 16)
        return h19_fail(H19_EUNSUP, "%s: BitsAllocated is %u, this reader takes 8 or 16", path, alloc);
    if (ds->findAndGetUint16(DCM_BitsStored, stored).bad()) stored = alloc;
    if (ds->findAndGetUint16(DCM_HighBit, high).bad()) high = (Uint16)(stored - 1);
    ds->findAndGetUint16(DCM_PixelRepresentation, rep);
    if (stored < 1 || stored > alloc || high != stored - 1)
        return h19_fail(H19_EUNSUP, "%s: BitsStored %u / HighBit %u with BitsAllocated %u not supported", path, stored,
                        high, alloc);
    Sint32 frames = 1;
    if (ds->findAndGetSint32(DCM_NumberOfFrames, frames).good() && frames != 1)
        return h19_fail(H19_EUNSUP, "%s: %d frames; a CT Image Storage slice has one", path, (int)frames);
    if (!ds->tagExistsWithValue(DCM_PixelData)) return h19_fail(H19_EFORMAT, "%s: no pixel data", path);
    if (!hu) return H19_OK;

    if (xf.isEncapsulated()) {
        OFCondition c = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
        if (c.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
            return h19_fail(H19_EFORMAT, "%s: cannot decode pixel data (%s, %s): %s", path, xf.getXferName(),
                            ts.c_str(), c.bad() ? c.text() : "no decoder");
    }
    DcmElement *pd = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, pd).bad() || !pd) return h19_fail(H19_EFORMAT, "%s: no pixel data", path);
    size_t n = (size_t)meta->rows * (size_t)meta->cols;
    size_t need = n * (alloc / 8);
    size_t have = pd->getLength();
    // One byte of padding to even length is legal (PS3.5 7.1.1); anything else is a mismatch.
    if (have < need || have > need + (need & 1))
        return h19_fail(H19_EFORMAT, "%s: pixel data has %zu bytes, Rows x Columns x BitsAllocated/8 = %d x %d x %u = %zu",
                        path, have, meta->rows, meta->cols, alloc / 8u, need);
    float *out = static_cast<float *>(h19_malloc(n * sizeof(float)));
    if (!out) return H19_ENOMEM;
    const double slope = meta->rescale_slope, icpt = meta->rescale_intercept;
    const uint32_t mask = stored >= 32 ? 0xffffffffu : ((1u << stored) - 1u);
    const uint32_t sign = 1u << (stored - 1);
    OFCondition c;
    if (alloc == 16) {
        Uint16 *p = nullptr;
        c = pd->getUint16Array(p);
        if (c.good() && p)
            for (size_t i = 0; i < n; i++) {
                uint32_t v = p[i] & mask;
                double s = (rep && (v & sign)) ? (double)v - (double)(mask + 1u) : (double)v;
                out[i] = (float)(s * slope + icpt);
            }
    } else {
        Uint8 *p = nullptr;
        c = pd->getUint8Array(p);
        if (c.good() && p)
            for (size_t i = 0; i < n; i++) {
                uint32_t v = p[i] & mask;
                double s = (rep && (v & sign)) ? (double)v - (double)(mask + 1u) : (double)v;
                out[i] = (float)(s * slope + icpt);
            }
    }
    if (c.bad()) {
        free(out);
        return h19_fail(H19_EFORMAT, "%s: cannot access pixel data: %s", path, c.text());
    }
    *hu = out;
    return H19_OK;
}

int dcm_get_string(const char *path, const uint32_t *tags, int ntags, char *out, size_t cap, int *found)
{
    if (found) *found = 0;
    if (out && cap) out[0] = 0;
    if (!path || !tags || ntags < 1 || !out || !cap || !found) return h19_fail(H19_EARG, "dcm_get_string: bad arguments");
    H19_TRY(setup(path));
    DcmFileFormat ff;
    H19_TRY(load_file(ff, path));
    DcmItem *it = ff.getDataset();
    for (int i = 0; i < ntags; i++) {
        DcmTagKey key((Uint16)(tags[i] >> 16), (Uint16)(tags[i] & 0xffff));
        if (key.getGroup() == 0x0002) it = ff.getMetaInfo();
        if (i < ntags - 1) {
            DcmItem *sub = nullptr;
            if (it->findAndGetSequenceItem(key, sub, 0).bad() || !sub) return H19_OK;
            it = sub;
        } else {
            OFString s;
            if (it->findAndGetOFStringArray(key, s).bad()) {
                if (!it->tagExists(key)) return H19_OK;
                s.clear();
            }
            copy_str(out, cap, s.c_str());
            *found = 1;
        }
    }
    return H19_OK;
}

const dcm_deid_rule *dcm_deid_table(int *n)
{
    if (n) *n = g_nrules;
    return g_rules;
}

int dcm_deid_file(const char *in, const char *out, const dcm_deid_opts *opts)
{
    if (!in || !out || !opts) return h19_fail(H19_EARG, "dcm_deid_file: NULL argument");
    if (!opts->secret || !(opts->secret_len ? opts->secret_len : strlen(opts->secret)))
        return h19_fail(H19_EARG, "dcm_deid_file: %s: a non-empty secret is required", in);
    H19_TRY(setup(in));
    DcmFileFormat ff;
    H19_TRY(load_file(ff, in));
    DcmDataset *ds = ff.getDataset();
    std::string ts = xfer_uid(ff);
    E_TransferSyntax xfer = ds->getOriginalXfer();
    if (xfer == EXS_Unknown || DcmXfer(ts.c_str()).getXfer() == EXS_Unknown)
        return h19_fail(H19_EUNSUP, "%s: unsupported transfer syntax %s", in, ts.c_str());

    deid_ctx c;
    c.path = in;
    c.secret = opts->secret;
    c.secret_len = opts->secret_len ? opts->secret_len : strlen(opts->secret);
    c.keep_private = opts->keep_private != 0;
    if (opts->patient_id && *opts->patient_id) {
        c.pseudonym = opts->patient_id;
    } else {
        // No pseudonym given: derive one from the keyed hash of the original PatientID, so the
        // same patient gets the same pseudonym in every file under the same secret.
        OFString pid;
        ds->findAndGetOFStringArray(DCM_PatientID, pid);
        std::string msg = std::string("hust19-pid-v1:") + pid.c_str();
        uint8_t mac[32];
        dcm_hmac_sha256(c.secret, c.secret_len, msg.data(), msg.size(), mac);
        char hex[32];
        for (int i = 0; i < 8; i++) snprintf(hex + 2 * i, 3, "%02X", mac[i]);
        c.pseudonym = std::string("H19-") + hex;
    }
    if (c.pseudonym.size() > 64) return h19_fail(H19_EARG, "%s: pseudonym longer than 64 characters", in);
    c.pname = opts->patient_name ? opts->patient_name : c.pseudonym;

    H19_TRY(deid_item(ds, c, 0));
    // Type 1/2 attributes the profile empties must exist (they may have been absent).
    H19_TRY(put(ds, DCM_PatientID, c.pseudonym, in));
    H19_TRY(put(ds, DCM_PatientName, c.pname, in));
    // PS3.15 E.1.1 items 6-7: flag the file and say how it was de-identified.
    H19_TRY(put(ds, DCM_PatientIdentityRemoved, "YES", in));
    H19_TRY(put(ds, DCM_DeidentificationMethod,
                "hust19 " HUST19_VERSION ": PS3.15 E.1 Basic Profile; UIDs 2.25 from HMAC-SHA256", in));
    DcmItem *code = nullptr;
    ds->findAndDeleteElement(DCM_DeidentificationMethodCodeSequence);
    OFCondition cond = ds->findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, code, 0);
    if (cond.bad() || !code) return h19_fail(H19_EFORMAT, "%s: cannot add DeidentificationMethodCodeSequence", in);
    // CID 7050 De-identification Method: 113100 Basic Application Confidentiality Profile (DCM).
    H19_TRY(put(code, DCM_CodeValue, "113100", in));
    H19_TRY(put(code, DCM_CodingSchemeDesignator, "DCM", in));
    H19_TRY(put(code, DCM_CodeMeaning, "Basic Application Confidentiality Profile", in));
    // Dates were removed or emptied (PS3.3 C.7.1.1: Longitudinal Temporal Information Modified).
    H19_TRY(put(ds, DCM_LongitudinalTemporalInformationModified, "REMOVED", in));
    // The meta header is rebuilt from the data set (EWM_createNewMeta), so the old
    // MediaStorageSOPInstanceUID and SourceApplicationEntityTitle go with it.
    ff.getMetaInfo()->clear();
    return save_atomic(ff, out, xfer);
}

} // extern "C"
